"""The Streamlit app shell: entry point, navigation, shared widgets, charts and exports."""
