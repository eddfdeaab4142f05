"""The science of the dashboard: media, faces, datasets, models, explanations.

Nothing in `core` imports streamlit; pages and the CLI (`python -m core`) call it.
"""
