from deepad.bench import BenchOptions, list_suites
from deepad.bench.contaminated import suite_configs


def test_suites_are_registered():
    names = {"iterative-kdd", "iterative-mnist", "cance-odds", "cance-images"}
    assert names <= set(list_suites())


def test_method_settings_come_from_the_suite_then_set_and_quick_caps_epochs():
    options = BenchOptions(seed=2, device="cpu", extra={"iterative_ae.share": "25"})
    configs = suite_configs(options, ["iterative_ae", "iforest"], {"iterative_ae": {"epochs": 7}})
    it = configs["iterative_ae"]
    assert (it.epochs, it.share, it.seed, it.device) == (7, 25.0, 2, "cpu")
    assert configs["iforest"].seed == 2
    quick = suite_configs(BenchOptions(quick=True), ["cance"], {})["cance"]
    assert (quick.epochs, quick.decoder_epochs, quick.nce_epochs) == (5, 5, 5)
