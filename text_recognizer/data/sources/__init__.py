"""Where data comes from: the IAM archive and its XML, EMNIST's archive, PAGE/ALTO layouts, safe XML, the crops cache."""
