"""Agent definitions: thin Mesa views over the struct-of-arrays state of a model."""
