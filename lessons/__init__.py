"""Bundled lesson plans: a data package (the TOML plans and their scores), installed as tutor.lesson_plans."""
