from sam2refiner.model.summary import main


def test_summary_lists_modules_parameters_and_switches(capsys):
    main(["--config", "hiera_t", "--image-size", "256", "--no-pr"])
    out = capsys.readouterr().out
    assert "switches: la=on, pr=off, mr=on" in out
    assert "prompt_retargeting" in out and "(off)" in out
    assert "localization_augment" in out and "mask_refinement" in out
    assert "total frozen" in out and "SAM 2 requires_grad: [False]" in out
    assert "SAM 2 weights: RANDOM" in out
