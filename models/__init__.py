"""The AI-capacity domain model, installed as `capsim.models`."""
