import numpy as np
import pytest

from qgan_lab.sim.circuits import CVCircuit, GateList, GateSpec, ParamRef, mesh_pairs, n_beamsplitters


def test_parameter_groups_and_counts():
    circuit = CVCircuit(4, 2, 6)
    sizes = circuit.group_sizes()
    assert sizes["L0_int1_theta"] == n_beamsplitters(4) == 6 == len(mesh_pairs(4))
    assert sizes["L1_kerr"] == 4 and sizes["L0_int2_rphi"] == 3
    # Killoran layer: 2 interferometers (N(N-1) + N - 1 each) + squeeze, disp r, disp phi, kerr
    assert circuit.n_parameters == 2 * (2 * (4 * 3 + 3) + 4 * 4)
    single = CVCircuit(1, 1, 4)
    assert "L0_int1_theta" not in single.group_sizes() and single.group_sizes()["L0_int1_rphi"] == 1


def test_init_uses_separate_scales_and_is_never_exactly_zero():
    circuit = CVCircuit(4, 3, 6)
    weights = circuit.init_weights(seed=0, passive_std=1.0, active_std=1e-3)
    active = np.concatenate([v for k, v in weights.items() if k.endswith(("squeeze_r", "disp_r", "kerr"))])
    passive = np.concatenate([v for k, v in weights.items() if k.endswith(("theta", "_phi", "rphi"))])
    assert np.std(active) < 0.01 < 0.3 < np.std(passive)
    assert all(np.all(v != 0) for v in weights.values())
    again = circuit.init_weights(seed=0, passive_std=1.0, active_std=1e-3)
    assert all(np.array_equal(weights[k], again[k]) for k in weights)
    with pytest.raises(ValueError, match="active_std"):
        circuit.init_weights(active_std=0.0)


def test_gate_order_follows_the_killoran_layer():
    circuit = CVCircuit(2, 1, 5, n_inputs=3)
    names = [g.name for g in circuit.gates()]
    # 3 encoding displacements, then BS R | S S | BS R | D K D K
    assert names == ["D", "D", "D", "BS", "R", "S", "S", "BS", "R", "D", "K", "D", "K"]
    enc = circuit.gates()[2]
    assert enc.modes == (0,) and enc.params[1].value == pytest.approx(np.pi / 2)


def test_program_is_printable_with_symbolic_parameters():
    prog = CVCircuit(2, 1, 5, n_inputs=2).to_program()
    assert prog.num_subsystems == 2 and len(prog.circuit) == 12
    text = "\n".join(str(cmd) for cmd in prog.circuit)
    assert "BSgate({L0_int1_theta_0}, {L0_int1_phi_0})" in text and "Dgate({x_0}, 0)" in text


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_modes=0, layers=1, cutoff_dim=4), "n_modes"),
        (dict(n_modes=2, layers=0, cutoff_dim=4), "layers"),
        (dict(n_modes=2, layers=1, cutoff_dim=1), "cutoff_dim"),
        (dict(n_modes=2, layers=1, cutoff_dim=4, n_inputs=5), "n_inputs"),
    ],
)
def test_impossible_sizes_raise_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CVCircuit(**kwargs)


def test_wrong_types_raise_type_errors():
    with pytest.raises(TypeError, match="cutoff_dim"):
        CVCircuit(2, 1, 4.5)


def test_gate_list_validation():
    ok = GateSpec("K", (1,), (ParamRef("w", "k", 0),))
    GateList(2, 4, (ok,))
    with pytest.raises(ValueError, match="unknown gate"):
        GateList(2, 4, (GateSpec("Q", (0,), ()),))
    with pytest.raises(ValueError, match="outside"):
        GateList(1, 4, (ok,))


def test_reupload_repeats_the_encoding_before_every_layer():
    plain, again = CVCircuit(2, 3, 5, n_inputs=2), CVCircuit(2, 3, 5, n_inputs=2, reupload=True)
    assert plain.group_sizes() == again.group_sizes()  # same weights, more gates
    encodings = [i for i, g in enumerate(again.gates()) if g.params and g.params[0].source == "x"]
    per_layer = len(again.layer_gates(0))
    assert encodings == [k * (per_layer + 2) + j for k in range(3) for j in range(2)]
    # per_sample: exactly the gates that read an input feature (the engine batches those)
    assert [i for i, g in enumerate(again.gates()) if g.per_sample] == encodings
    text = "\n".join(str(cmd) for cmd in again.to_program().circuit)
    assert text.count("Dgate({x_0}, 0)") == 3 and len(again.to_program().circuit) == len(again.gates())
    with pytest.raises(TypeError, match="reupload"):
        CVCircuit(2, 1, 4, n_inputs=1, reupload="yes")
