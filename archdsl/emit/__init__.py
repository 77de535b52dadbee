"""The emitter: an annotated graph in, readable PyTorch source out.

The pipeline, in order (torch_source.emit runs it):

1. instances.py  — each class-form scope (passes/forms.py) becomes an `Instance`: its
                   members' constructors and its forward steps; the op table in
                   torch_ops.py says how each op is written (helpers.py holds the
                   helper modules some ops need in the file).
2. generalize.py — instances of one block share a class; the literals that differ
                   become constructor parameters, a residual's skip that some
                   instances lack a flag (skips.py).
3. torch_source.py — the file: imports, helper modules, one class per group, forward
                   methods (with shape_comments.py's comments) and init_code.py's
                   `init_weights`.

Every generated identifier comes from one archdsl.names.Namespace per Python scope.
code.py is the small code tree all of them build; picture.py draws graphs (dot,
mermaid) and is not part of the pipeline.
"""
