"""Dataset constants: mappings, image sizes, label lengths, paths.

Light on purpose (no torch, no Lightning): the data modules, the models' tests and inference all
import these, so each constant is defined exactly once.
"""
