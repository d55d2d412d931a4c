"""HTTP resources: thin nouns that parse the request, call the domain and shape the reply."""
