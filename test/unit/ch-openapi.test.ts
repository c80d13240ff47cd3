/**
 * Every request body the cloud-hypervisor driver can send is validated against the OpenAPI
 * description of CH v53 (test/fixtures/cloud-hypervisor-openapi-v53.yaml). Objects
 * that list properties get additionalProperties:false, so a misspelt field fails here.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildRestoreConfig, buildSnapshotConfig, buildVmConfig } from '../../daemon/vmm/cloud-hypervisor/bodies.js';
import type { VmSpec } from '../../daemon/vmm/types.js';

const specFile = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/cloud-hypervisor-openapi-v53.yaml');

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const DROP = new Set(['example', 'examples', 'xml', 'externalDocs', 'discriminator', 'nullable']);

/** OpenAPI 3.0 schema -> JSON schema for ajv: refs to #/definitions, nullable, closed objects. */
function toJsonSchema(node: Json): Json {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (node === null || typeof node !== 'object') return node;
  const out: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries(node)) {
    if (DROP.has(k)) continue;
    if (k === '$ref' && typeof v === 'string') out[k] = v.replace('#/components/schemas/', '#/definitions/');
    else if (k === 'properties' && v && typeof v === 'object' && !Array.isArray(v)) {
      out[k] = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, toJsonSchema(s)]));
    } else out[k] = toJsonSchema(v);
  }
  if (node.nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
  }
  if ('properties' in node && !('additionalProperties' in node)) out.additionalProperties = false;
  return out;
}

function intFormat(min: number, max: number) {
  return { type: 'number' as const, validate: (n: number) => Number.isInteger(n) && n >= min && n <= max };
}

function compile(): (schema: string) => ValidateFunction {
  const doc = parse(readFileSync(specFile, 'utf8')) as { components: { schemas: Record<string, Json> } };
  const definitions = toJsonSchema(doc.components.schemas as Json);
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
  ajv.addFormat('int8', intFormat(-128, 127));
  ajv.addFormat('int16', intFormat(-32768, 32767));
  ajv.addFormat('int32', intFormat(-(2 ** 31), 2 ** 31 - 1));
  ajv.addFormat('int64', intFormat(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER));
  ajv.addFormat('uint8', intFormat(0, 255));
  ajv.addFormat('uint16', intFormat(0, 65535));
  ajv.addFormat('uint32', intFormat(0, 2 ** 32 - 1));
  ajv.addSchema({ $id: 'ch', definitions });
  return (name) => ajv.getSchema(`ch#/definitions/${name}`) ?? ajv.compile({ $ref: `ch#/definitions/${name}` });
}

function check(validate: ValidateFunction, body: unknown): void {
  const ok = validate(body);
  expect(ok, JSON.stringify(validate.errors, null, 2)).toBe(true);
}

const paths = { vsockSocket: '/run/hob/sb1/vsock.sock', consoleSocket: '/run/hob/sb1/console.sock' };
const full: VmSpec = {
  id: 'sb1',
  runDir: '/run/hob/sb1',
  kernelPath: '/img/vmlinuz',
  initramfsPath: '/img/initrd.img',
  cmdline: 'root=/dev/vda rw',
  disks: [
    { id: 'root', path: '/pool/sb1/root.img' },
    { id: 'seed', path: '/pool/sb1/seed.img', readOnly: true },
  ],
  cpus: 2,
  memoryMiB: 1024,
  net: { tap: 'tap0', mac: '02:00:00:00:00:01', netns: 'hob-sb1' },
};
const { net: _net, initramfsPath: _initramfs, ...bare } = full;

describe('cloud-hypervisor request bodies match the v53 OpenAPI schema', () => {
  const schema = compile();

  it('vm.create with net, initramfs and a read-only disk', () => {
    const body = buildVmConfig(full, 'x86_64', paths);
    check(schema('VmConfig'), body);
    expect(body.net).toEqual([{ id: 'net0', tap: 'tap0', mac: '02:00:00:00:00:01' }]);
    expect(body.disks[1]).toEqual({ id: 'seed', path: '/pool/sb1/seed.img', readonly: true, image_type: 'Raw', sparse: true });
    expect(body.memory).toEqual({ size: 1024 * 1024 * 1024, shared: false });
    // The serial port goes to hob's bounded console reader through a socket, never to an unbounded file.
    expect(body.serial).toEqual({ mode: 'Socket', socket: paths.consoleSocket });
    expect(body.console).toEqual({ mode: 'Off' });
    expect(body.vsock).toEqual({ id: 'vsock0', cid: 3, socket: paths.vsockSocket });
    expect(body.payload).toEqual({
      kernel: '/img/vmlinuz',
      initramfs: '/img/initrd.img',
      cmdline: 'root=/dev/vda rw console=ttyS0 panic=-1',
    });
  });

  it('vm.create without net and initramfs, one writable disk', () => {
    const body = buildVmConfig({ ...bare, disks: [full.disks[0]!] }, 'x86_64', paths);
    check(schema('VmConfig'), body);
    expect(body).not.toHaveProperty('net');
    expect(body.payload).not.toHaveProperty('initramfs');
    expect(body.disks).toEqual([{ id: 'root', path: '/pool/sb1/root.img', readonly: false, image_type: 'Raw', sparse: true }]);
  });

  it('vm.create on aarch64: the Image booted directly, no firmware, the PL011 console, no x86-only fields', () => {
    const arm = { ...full, kernelPath: '/img/Image' };
    const body = buildVmConfig(arm, 'aarch64', paths);
    check(schema('VmConfig'), body);
    expect(body.payload).toEqual({ kernel: '/img/Image', initramfs: '/img/initrd.img', cmdline: 'root=/dev/vda rw console=ttyAMA0 panic=-1' });
    expect(body.payload).not.toHaveProperty('firmware');
    expect(body.cpus).toEqual({ boot_vcpus: 2, max_vcpus: 2 });
    // Apart from the console, the same body as on x86_64 (the GIC is CH's own choice, not a field).
    const x86 = buildVmConfig(arm, 'x86_64', paths);
    expect({ ...body, payload: { ...body.payload, cmdline: '' } }).toEqual({ ...x86, payload: { ...x86.payload, cmdline: '' } });
  });

  it('vm.create on aarch64 without net and initramfs', () => {
    const body = buildVmConfig({ ...bare, kernelPath: '/img/Image', disks: [full.disks[0]!] }, 'aarch64', paths);
    check(schema('VmConfig'), body);
    expect(body.payload).toEqual({ kernel: '/img/Image', cmdline: 'root=/dev/vda rw console=ttyAMA0 panic=-1' });
  });

  it('vm.snapshot and vm.restore', () => {
    check(schema('VmSnapshotConfig'), buildSnapshotConfig('/pool/sb1/.snap/v1'));
    expect(buildSnapshotConfig('/x')).toEqual({ destination_url: 'file:///x' });
    check(schema('RestoreConfig'), buildRestoreConfig('/run/hob/sb1/restore-source'));
    check(schema('RestoreConfig'), buildRestoreConfig('/x', 'OnDemand'));
    expect(buildRestoreConfig('/x').resume).toBe(false);
  });

  it('rejects misspelt or mistyped fields (the check has teeth)', () => {
    const good = buildVmConfig(full, 'x86_64', paths);
    const v = schema('VmConfig');
    expect(v({ ...good, cpus: { boot_vcpu: 2, max_vcpus: 2 } })).toBe(false);
    expect(v({ ...good, disks: [{ ...good.disks[0], image_type: 'raw' }] })).toBe(false);
    expect(v({ ...good, memory: { size: '1G' } })).toBe(false);
    expect(v({ ...good, consol: { mode: 'Off' } })).toBe(false);
    expect(v({ ...good, vsock: { cid: 2, socket: '/x' } })).toBe(false); // cid >= 3
    expect(schema('RestoreConfig')({ source: 'file:///x' })).toBe(false);
  });
});
