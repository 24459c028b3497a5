import type {Context} from '../system/context.js'
import {CommandFailed} from '../system/exec.js'
import {oneLine} from '../system/failure.js'
import {hasBindVolumes} from './runtimes.js'
import type {AttachmentRecord, RuntimeName, VolumeRecord} from '../store/state.js'

/**
 * Attachments as the runtimes tell them now. The store only remembers what cbs handed out; a
 * user's `docker rm` or `docker volume rm` never tells cbs. So what is shown (ls, inspect) and
 * what doctor checks is the record intersected with what each runtime answers: its named
 * volumes, and its containers with whether they run. Each runtime is asked once per command
 * (one `volume ls`, one `ps`), only when some record names it, and briefly: a runtime that does
 * not answer confirms nothing, and never makes a listing fail or wait.
 */

const ASK_TIMEOUT_MS = 3000

/**
 * cbs registers its volumes with the local driver. Only those are listed: a full `volume ls`
 * also asks every volume plugin dockerd has known, and waits 15 s on one that does not answer.
 */
const volumeNamesArgs = () => ['volume', 'ls', '--quiet', '--filter', 'driver=local']
const containerStatusArgs = () => ['ps', '--all', '--no-trunc', '--format', '{{.ID}} {{.Status}}']

/** What one runtime answered. */
export interface RuntimeFacts {
  volumes: ReadonlySet<string>
  /** Every container by full id: true while it runs. */
  containers: ReadonlyMap<string, boolean>
}

/** `ps --format '{{.ID}} {{.Status}}'`: "Up 3 minutes" (docker, podman, nerdctl) means running. */
export function parseContainerStatus(text: string): Map<string, boolean> {
  const containers = new Map<string, boolean>()
  for (const line of text.split('\n')) {
    const [id, status = ''] = line.trim().split(/\s+(.*)/)
    if (id) containers.set(id, /^up\b/i.test(status))
  }
  return containers
}

export type Answer = {facts: RuntimeFacts} | {problem: string}

async function ask(ctx: Context, runtime: RuntimeName, withVolumes: boolean): Promise<Answer> {
  try {
    const run = (args: string[]) => ctx.exec.run(runtime, args, {timeoutMs: ASK_TIMEOUT_MS})
    const containers = parseContainerStatus((await run(containerStatusArgs())).stdout)
    const volumes = withVolumes && hasBindVolumes(runtime) ? (await run(volumeNamesArgs())).stdout.split('\n').map((line) => line.trim()).filter(Boolean) : []
    return {facts: {volumes: new Set(volumes), containers}}
  } catch (error) {
    if (!(error instanceof CommandFailed)) throw error
    if (error.notInstalled) return {problem: `${runtime} is not installed`}
    return {problem: `${runtime} does not answer (${oneLine(error.stderr).slice(0, 200) || error.message})`}
  }
}

const asked = new WeakMap<Context['exec'], Map<string, Promise<Answer>>>()

/**
 * The runtime's answer, asked at most once per command (per executor). Its named volumes only
 * when a record names one: `volume ls` asks every volume driver dockerd knows, and one that
 * hangs must not hide the containers and live mounts, which `ps` alone confirms.
 */
function askRuntime(ctx: Context, runtime: RuntimeName, withVolumes = true): Promise<Answer> {
  const answers = asked.get(ctx.exec) ?? new Map<string, Promise<Answer>>()
  asked.set(ctx.exec, answers)
  const key = `${runtime} ${withVolumes}`
  let answer = answers.get(key)
  if (!answer) {
    // An answer with the volumes holds the same containers: when it came, no second `ps`.
    const whole = withVolumes ? undefined : answers.get(`${runtime} true`)
    answer = whole ? whole.then((answered) => ('facts' in answered ? answered : ask(ctx, runtime, false))) : ask(ctx, runtime, withVolumes)
    answers.set(key, answer)
  }
  return answer
}

/**
 * What of one record the runtime confirms: the named volume if it still exists, the containers
 * that exist, the live mounts whose container runs. Nothing left: undefined. A bind-mount-only
 * handout (nerdctl, which has no named volumes) leaves no trace to read and stands as recorded.
 */
export function confirm(attachment: AttachmentRecord, facts: RuntimeFacts): AttachmentRecord | undefined {
  const bindOnly = !hasBindVolumes(attachment.runtime) && attachment.name === null && attachment.containers.length === 0 && (attachment.live ?? []).length === 0
  if (bindOnly) return attachment
  const confirmed: AttachmentRecord = {
    runtime: attachment.runtime,
    name: attachment.name !== null && facts.volumes.has(attachment.name) ? attachment.name : null,
    containers: attachment.containers.filter((id) => facts.containers.has(id)),
  }
  const live = (attachment.live ?? []).filter((mount) => facts.containers.get(mount.container) === true)
  if (live.length > 0) confirmed.live = live
  return confirmed.name !== null || confirmed.containers.length > 0 || live.length > 0 ? confirmed : undefined
}

/** Only the records that name a runtime ask it; none: no runtime is asked at all. */
async function answersFor(ctx: Context, records: VolumeRecord[]): Promise<Map<RuntimeName, Answer>> {
  const attachments = records.flatMap((record) => record.attachments ?? [])
  const runtimes = [...new Set(attachments.map((attachment) => attachment.runtime))]
  const answers = new Map<RuntimeName, Answer>()
  for (const runtime of runtimes) {
    const named = attachments.some((attachment) => attachment.runtime === runtime && attachment.name !== null)
    answers.set(runtime, await askRuntime(ctx, runtime, named))
  }
  return answers
}

/** The records with their attachments as the runtimes confirm them (copies; the store is not written). */
export async function withConfirmedAttachments(ctx: Context, records: VolumeRecord[]): Promise<VolumeRecord[]> {
  const answers = await answersFor(ctx, records)
  return records.map((record) => {
    if (!record.attachments?.length) return record
    const attachments = record.attachments.flatMap((attachment) => {
      const answer = answers.get(attachment.runtime)!
      const confirmed = 'facts' in answer ? confirm(attachment, answer.facts) : undefined
      return confirmed ? [confirmed] : []
    })
    return {...record, attachments}
  })
}

/**
 * Whether some runtime the record names could not be asked: its attachments are unknown, not
 * gone. What removes volumes (prune) must keep such a volume, as docker would keep one in use.
 */
export async function hasUncheckedAttachments(ctx: Context, record: VolumeRecord): Promise<boolean> {
  const answers = await answersFor(ctx, [record])
  return [...answers.values()].some((answer) => 'problem' in answer)
}

/** A record no runtime confirms, in whole or in part: what doctor reports and `--fix` drops. */
export interface StaleAttachment {
  volume: string
  runtime: RuntimeName
  /** What the runtime no longer has: "volume db", "container 3f2a1b4c5d6e", "mount in web at /data". */
  gone: string[]
  /** What stays of the record once the stale parts are dropped; undefined: the whole record goes. */
  keep?: AttachmentRecord
}

/** Stale records, and the runtimes that could not be asked (their records are left alone). */
export async function findStaleAttachments(ctx: Context, records: VolumeRecord[]): Promise<{stale: StaleAttachment[]; unanswered: string[]}> {
  const answers = await answersFor(ctx, records)
  const stale: StaleAttachment[] = []
  for (const record of records) {
    for (const attachment of record.attachments ?? []) {
      const answer = answers.get(attachment.runtime)!
      if (!('facts' in answer)) continue
      const keep = confirm(attachment, answer.facts)
      const gone = [
        ...(attachment.name !== null && keep?.name !== attachment.name ? [`volume ${attachment.name}`] : []),
        ...attachment.containers.filter((id) => !keep?.containers.includes(id)).map((id) => `container ${id.slice(0, 12)}`),
        ...(attachment.live ?? []).filter((mount) => !keep?.live?.includes(mount)).map((mount) => `mount in ${mount.name} at ${mount.target}`),
      ]
      const empty = gone.length === 0 && keep === undefined
      if (gone.length > 0 || empty) stale.push({volume: record.name, runtime: attachment.runtime, gone: empty ? ['everything'] : gone, keep})
    }
  }
  const unanswered = [...answers.values()].flatMap((answer) => ('problem' in answer ? [answer.problem] : []))
  return {stale, unanswered}
}
