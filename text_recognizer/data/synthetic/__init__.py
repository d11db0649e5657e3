"""Data made here: the offline handwriting (writers, forms, the IAM-format tree), sentences, synthetic paragraphs, a fake EMNIST, own-data folders exported from it."""
