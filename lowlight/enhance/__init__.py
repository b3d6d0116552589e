"""The product: reference CNN + clustered exact GP (:class:`Enhancer`), and checkpoint I/O."""
