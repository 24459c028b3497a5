/**
 * The undo steps of an operation under way. Each step that changes the host registers how to
 * take itself back; on failure they run newest first, so a half-done operation leaves nothing.
 */
export class Undo {
  private readonly steps: Array<{what: string; undo: () => Promise<unknown>}> = []

  push(what: string, undo: () => Promise<unknown>): void {
    this.steps.push({what, undo})
  }

  /** Runs every step even when one fails, and returns what could not be undone. */
  async run(): Promise<string[]> {
    const failed: string[] = []
    for (const step of this.steps.reverse()) {
      try {
        await step.undo()
      } catch (error) {
        failed.push(`${step.what} (${(error as Error).message})`)
      }
    }
    this.steps.length = 0
    return failed
  }
}
