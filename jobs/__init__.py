"""Batch jobs: restoration graph and training of the bundled prior."""
