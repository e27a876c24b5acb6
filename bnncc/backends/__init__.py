"""Code generators.  Each renders templates/<backend>/ from a lowered IR graph."""
