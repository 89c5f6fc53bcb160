"""Model files: what they are, where they live, and how they get there."""
