"""Training, selecting and exporting models: the code behind the scripts `training/run_experiment.py`,
`training/save_best_model.py` and `training/export_model.py` (thin wrappers in the clone) and behind
`text-recognizer train|select|export`. Inside the package so that an installed wheel has it too."""
