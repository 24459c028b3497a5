import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, connect} from 'node:net'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

export const SSHD = '/usr/sbin/sshd'

/** An sshd of the test's own on 127.0.0.1: its host key, a client key for root, its port; stop() ends it by pid. */
export interface TestSshd {
  port: number
  /** The ssh command line (without the remote command) that logs in as root with the test's key. */
  ssh: string[]
  stop(): Promise<void>
}

export async function startSshd(): Promise<TestSshd> {
  const dir = mkdtempSync('/tmp/cbs-sshd-')
  for (const key of ['host_key', 'id']) spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, key)], {stdio: 'ignore'})
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'id.pub')), {mode: 0o600})
  const port = await freePort()
  const config = join(dir, 'sshd_config')
  writeFileSync(
    config,
    [
      `HostKey ${join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'ListenAddress 127.0.0.1',
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'AcceptEnv NONE',
      '',
    ].join('\n'),
  )
  // Debian's sshd insists on its privilege separation folder (made by its service, which the test does not run).
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', {mode: 0o755})
  const daemon: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', config, '-p', String(port)], {stdio: ['ignore', 'ignore', 'pipe']})
  let log = ''
  daemon.stderr!.on('data', (chunk) => (log += chunk))
  const exited = new Promise<void>((resolve) => daemon.on('exit', () => resolve()))
  const stop = async () => {
    daemon.kill('SIGTERM')
    await exited
    rmSync(dir, {recursive: true, force: true})
  }
  for (let waited = 0; !(await accepts(port)); waited += 50) {
    if (waited > 10_000 || daemon.exitCode !== null) {
      await stop()
      throw new Error(`sshd did not start: ${log}`)
    }
    await sleep(50)
  }
  const ssh = ['ssh', '-i', join(dir, 'id'), '-p', String(port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', 'root@127.0.0.1']
  return {port, ssh, stop}
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as {port: number}
      server.close(() => resolve(port))
    })
  })
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.on('connect', () => (socket.destroy(), resolve(true)))
    socket.on('error', () => resolve(false))
  })
}
