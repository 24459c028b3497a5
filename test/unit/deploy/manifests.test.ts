import assert from 'node:assert/strict'
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {parseAllDocuments} from 'yaml'
import {DEFAULT_DRIVER_NAME} from '../../../src/commands/csi/serve.js'

const DIR = join(import.meta.dirname, '../../../deploy/kubernetes')

type Manifest = {apiVersion: string; kind: string; metadata: {name: string; namespace?: string}; [key: string]: any}
type Container = {name: string; args?: string[]; env?: {name: string}[]; volumeMounts?: {name: string; mountPath: string; mountPropagation?: string}[]}

function manifests(): Manifest[] {
  return readdirSync(DIR)
    .filter((file) => file.endsWith('.yaml'))
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((document) => {
        assert.deepEqual(document.errors, [], file)
        return document.toJS() as Manifest
      }),
    )
}

const only = (all: Manifest[], kind: string) => {
  const found = all.filter((manifest) => manifest.kind === kind)
  assert.equal(found.length, 1, `one ${kind}`)
  return found[0]
}

/** The value of --flag=value in a container's args. */
const flag = (container: Container, name: string) => container.args?.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3)
const hasFlag = (container: Container, name: string) => container.args?.some((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`)) ?? false

describe('deploy/kubernetes', () => {
  const all = manifests()
  const daemonSet = only(all, 'DaemonSet')
  const pod = daemonSet.spec.template.spec
  const containers: Container[] = pod.containers
  const container = (name: string) => containers.find((each) => each.name === name)!
  const cbs = container('cbs')

  it('parses, and every object has a kind, an apiVersion and a name', () => {
    for (const manifest of all) assert.ok(manifest.apiVersion && manifest.kind && manifest.metadata?.name, JSON.stringify(manifest).slice(0, 80))
  })

  it('names one driver everywhere: CSIDriver, serve, StorageClasses, VolumeSnapshotClass, registration path', () => {
    const driver = only(all, 'CSIDriver').metadata.name
    assert.equal(driver, DEFAULT_DRIVER_NAME)
    assert.equal(flag(cbs, 'driver-name'), driver)
    for (const storageClass of all.filter((manifest) => manifest.kind === 'StorageClass')) assert.equal(storageClass.provisioner, driver, storageClass.metadata.name)
    assert.equal(only(all, 'VolumeSnapshotClass').driver, driver)
    assert.equal(flag(container('node-driver-registrar'), 'kubelet-registration-path'), `/var/lib/kubelet/plugins/${driver}/csi.sock`)
  })

  it('has every sidecar reach the socket cbs listens on, which is where the kubelet is told it is', () => {
    const endpoint = flag(cbs, 'endpoint')!
    assert.match(endpoint, /^unix:\/\//)
    const socket = endpoint.slice('unix://'.length)
    const socketDir = (each: Container) => each.volumeMounts?.find((mount) => mount.name === 'socket-dir')?.mountPath
    assert.equal(socket, `${socketDir(cbs)}/csi.sock`)
    for (const name of ['csi-provisioner', 'csi-snapshotter', 'csi-resizer', 'node-driver-registrar', 'liveness-probe']) {
      const sidecar = container(name)
      assert.ok(sidecar, name)
      assert.equal(flag(sidecar, 'csi-address'), `${socketDir(sidecar)}/csi.sock`, name)
    }
    const hostDir = pod.volumes.find((volume: any) => volume.name === 'socket-dir').hostPath.path
    assert.equal(flag(container('node-driver-registrar'), 'kubelet-registration-path'), `${hostDir}/csi.sock`)
    const registration = pod.volumes.find((volume: any) => volume.name === 'registration-dir').hostPath.path
    assert.equal(registration, '/var/lib/kubelet/plugins_registry')
  })

  it('runs the provisioner and the snapshotter per node, with capacity tracking owned by the DaemonSet', () => {
    const provisioner = container('csi-provisioner')
    for (const name of ['node-deployment', 'enable-capacity', 'strict-topology']) assert.ok(hasFlag(provisioner, name), name)
    assert.equal(flag(provisioner, 'capacity-ownerref-level'), '1', 'the pod\'s owner: the DaemonSet')
    assert.deepEqual(provisioner.env?.map((env) => env.name).sort(), ['NAMESPACE', 'NODE_NAME', 'POD_NAME'])
    const snapshotter = container('csi-snapshotter')
    assert.ok(hasFlag(snapshotter, 'node-deployment'))
    assert.ok(snapshotter.env?.some((env) => env.name === 'NODE_NAME'))
    // The resizer has no per-node mode: it only records sizes; the node's kubelet has cbs grow them.
    assert.ok(hasFlag(cbs, 'expand-on-node'))
    assert.equal(flag(cbs, 'node-id'), '$(NODE_NAME)')
    assert.equal(flag(container('liveness-probe'), 'health-port'), String((cbs as any).ports[0].containerPort))
  })

  it('gives cbs what it needs on the node: privileged, /dev, and its root and the pod folders with Bidirectional propagation', () => {
    assert.equal((cbs as any).securityContext.privileged, true)
    const mount = (path: string) => cbs.volumeMounts?.find((each) => each.mountPath === path)
    assert.equal(mount('/dev')?.name, 'dev')
    for (const path of ['/var/lib/cbs', '/var/lib/kubelet/pods']) assert.equal(mount(path)?.mountPropagation, 'Bidirectional', path)
    assert.equal((cbs as any).env.find((env: any) => env.name === 'CBS_ROOT').value, '/var/lib/cbs')
  })

  it('has a StorageClass that waits for the pod and allows expansion, a CSIDriver with capacity and no attach', () => {
    const storageClass = all.find((manifest) => manifest.kind === 'StorageClass' && manifest.metadata.name === 'cbs')!
    assert.equal(storageClass.volumeBindingMode, 'WaitForFirstConsumer')
    assert.equal(storageClass.allowVolumeExpansion, true)
    const driver = only(all, 'CSIDriver')
    assert.equal(driver.spec.storageCapacity, true)
    assert.equal(driver.spec.attachRequired, false)
  })

  it('binds the DaemonSet\'s service account to its role', () => {
    const account = only(all, 'ServiceAccount')
    assert.equal(pod.serviceAccountName, account.metadata.name)
    assert.equal(daemonSet.metadata.namespace, account.metadata.namespace)
    const binding = only(all, 'ClusterRoleBinding')
    assert.deepEqual(binding.subjects, [{kind: 'ServiceAccount', name: account.metadata.name, namespace: account.metadata.namespace}])
    assert.equal(binding.roleRef.name, only(all, 'ClusterRole').metadata.name)
    const rules = only(all, 'ClusterRole').rules as {resources: string[]; verbs: string[]}[]
    const may = (resource: string, verb: string) => rules.some((rule) => rule.resources.includes(resource) && rule.verbs.includes(verb))
    for (const [resource, verb] of [['persistentvolumes', 'create'], ['csistoragecapacities', 'create'], ['volumesnapshotcontents', 'update'], ['leases', 'update']]) assert.ok(may(resource, verb), `${verb} ${resource}`)
  })

  it('builds a node image on Debian with Node.js and the storage tools', () => {
    const dockerfile = readFileSync(join(DIR, 'Dockerfile'), 'utf8')
    assert.match(dockerfile, /^FROM node:20-bookworm-slim$/m)
    for (const tool of ['util-linux', 'e2fsprogs', 'xfsprogs', 'btrfs-progs']) assert.match(dockerfile, new RegExp(`\\b${tool}\\b`), tool)
    assert.match(dockerfile, /COPY --from=build \/cbs\/proto/)
  })
})
