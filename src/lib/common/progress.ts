/** How a long operation reports how far it is; the command decides whether anyone sees it. */
export interface Progress {
  update(done: number, total: number, label: string): void
  finish(): void
}

export const silentProgress: Progress = {update() {}, finish() {}}
