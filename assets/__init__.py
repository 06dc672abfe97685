"""Bundled sample pieces and takes: a data package, installed as tutor.assets."""
