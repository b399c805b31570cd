"""Models: where every weight file comes from and how it is verified (the model store), the sentence
encoder, and the LoRA adapters merged into it. Imports only the core modules (schema, errors, fileio,
compute, nlp); no stage or coder, so every stage can use it.
"""
