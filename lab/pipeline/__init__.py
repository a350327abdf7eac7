"""The pilot as a pipeline of plain stages over one run context (`context.RunContext`):

    build ─▶ reuse ─▶ copies ∥ (stage ─▶ restore ─▶ rehearse ─▶ check ─▶ rollback)
          ─▶ compare ─▶ logs ─▶ teardown ─▶ report

`pilot.run` runs them in order; each is a function of its own module here, and each
reaches Docker only through `lab.engine`. One cancel token in the context reaches every
call that blocks; `guard` orders the candidates' work on the one shared baseline.
"""
