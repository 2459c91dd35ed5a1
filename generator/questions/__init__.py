"""The stage table. Each key names a module of this package that declares one stage (the shape is described in
generator/stages.py). The build runs them in this order; a stage reads the results of the stages before it.

Adding a stage: write generator/questions/<key>.py with TITLE, READS, analyse, figures, context and cost, add its key
here, and its pages as templates/<language>/<key>.md.j2.

Kept free of imports, so the command line can list the ``--only`` choices without loading torch.
"""
# stage key -> the keys of the stages whose results it reads
STAGES = {
    "q1": (),
    "q2": (),
    "q3": (),
    "q4": (),
    "trust": ("q1", "q3"),
}
# --only recomputes one stage and keeps every other page as the last full build wrote it: a stage that reads no
# other stage's result
ALONE = tuple(key for key, needs in STAGES.items() if not needs)
