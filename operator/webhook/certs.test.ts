import { X509Certificate, createPrivateKey } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  certificateInfo,
  computeRotation,
  computeServiceDnsNames,
  createCa,
  isSignedBy,
  issueServingCert,
  joinPemBundle,
  splitPemBundle,
  type CertKeyPair,
  type RotationPlan,
} from './certs.js';

const DAY = 86_400_000;
const T0 = new Date('2026-01-01T00:00:00Z');
const at = (days: number): Date => new Date(T0.getTime() + days * DAY);
const DNS = computeServiceDnsNames('skein-webhook', 'skein-system');

let ca: CertKeyPair;
let otherCa: CertKeyPair;
let serving: CertKeyPair;

beforeAll(async () => {
  ca = await createCa({ commonName: 'skein-webhook-ca', validityDays: 300, now: T0 });
  otherCa = await createCa({ commonName: 'skein-webhook-ca', validityDays: 300, now: T0 });
  serving = await issueServingCert({ ca, dnsNames: [...DNS, 'localhost', '127.0.0.1'], validityDays: 90, now: T0 });
});

describe('createCa', () => {
  it('is a self-signed ECDSA P-256 CA whose key matches', () => {
    const cert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyType).toBe('ec');
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(cert.checkPrivateKey(createPrivateKey(ca.keyPem))).toBe(true);
    expect(cert.subject).toBe('CN=skein-webhook-ca');
    expect(cert.validToDate).toEqual(at(300));
  });

  it('gives each CA its own key and serial', () => {
    expect(new X509Certificate(otherCa.certPem).serialNumber).not.toBe(new X509Certificate(ca.certPem).serialNumber);
    expect(otherCa.keyPem).not.toBe(ca.keyPem);
  });

  it('rejects a non-positive validity', async () => {
    await expect(createCa({ commonName: 'x', validityDays: 0, now: T0 })).rejects.toThrow(RangeError);
  });
});

describe('issueServingCert', () => {
  it('chains to its CA only', () => {
    const cert = new X509Certificate(serving.certPem);
    const issuer = new X509Certificate(ca.certPem);
    const stranger = new X509Certificate(otherCa.certPem);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(issuer)).toBe(true);
    expect(cert.verify(issuer.publicKey)).toBe(true);
    expect(cert.verify(stranger.publicKey)).toBe(false);
    expect(isSignedBy(serving.certPem, ca.certPem)).toBe(true);
    expect(isSignedBy(serving.certPem, otherCa.certPem)).toBe(false);
    expect(cert.checkPrivateKey(createPrivateKey(serving.keyPem))).toBe(true);
  });

  it('is for server authentication', () => {
    expect(new X509Certificate(serving.certPem).keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
  });

  it.each([
    ['skein-webhook.skein-system.svc', true],
    ['skein-webhook.skein-system.svc.cluster.local', true],
    ['localhost', true],
    ['skein-webhook', false],
    ['other.skein-system.svc', false],
  ])('checkHost(%s) → %s', (host, ok) => {
    expect(new X509Certificate(serving.certPem).checkHost(host) !== undefined).toBe(ok);
  });

  it('carries IP SANs for IP literals', () => {
    const cert = new X509Certificate(serving.certPem);
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('10.0.0.1')).toBeUndefined();
  });

  it('never outlives its CA', async () => {
    const long = await issueServingCert({ ca, dnsNames: DNS, validityDays: 1000, now: T0 });
    expect(certificateInfo(long.certPem).notAfter).toEqual(certificateInfo(ca.certPem).notAfter);
  });

  it('needs a name', async () => {
    await expect(issueServingCert({ ca, dnsNames: [], validityDays: 1, now: T0 })).rejects.toThrow(RangeError);
  });
});

describe('certificateInfo', () => {
  it('reads validity, names, issuer and subject', () => {
    const info = certificateInfo(serving.certPem);
    expect(info.notBefore.getTime()).toBe(T0.getTime() - 5 * 60_000);
    expect(info.notAfter).toEqual(at(90));
    expect(info.dnsNames).toEqual([...DNS, 'localhost']);
    expect(info.ipAddresses).toEqual(['127.0.0.1']);
    expect(info.issuer).toBe('CN=skein-webhook-ca');
    expect(info.subject).toBe('CN=skein-webhook.skein-system.svc');
    expect(info.isCa).toBe(false);
    expect(info.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('throws on something that is not a certificate', () => {
    expect(() => certificateInfo('not a pem')).toThrow();
  });
});

describe('PEM bundles', () => {
  it('split and join round-trip, without duplicates, in order', () => {
    const bundle = joinPemBundle([ca.certPem, otherCa.certPem, ca.certPem]);
    expect(splitPemBundle(bundle)).toEqual([ca.certPem, otherCa.certPem]);
    expect(splitPemBundle(`junk\n${bundle}trailing`)).toHaveLength(2);
  });
});

describe('computeRotation', () => {
  let servingNoLocal: CertKeyPair;
  let servingFromOther: CertKeyPair;
  let late: CertKeyPair;
  beforeAll(async () => {
    servingNoLocal = await issueServingCert({ ca, dnsNames: DNS, validityDays: 90, now: T0 });
    servingFromOther = await issueServingCert({ ca: otherCa, dnsNames: DNS, validityDays: 90, now: T0 });
    late = await issueServingCert({ ca, dnsNames: DNS, validityDays: 90, now: at(60) });
  });

  // Serving cert: 90 days from T0 → due from day 60. CA: 300 days → due from day 200.
  const cases: [string, () => Parameters<typeof computeRotation>[0], RotationPlan['action'], RotationPlan['steps']][] = [
    ['fresh', () => ({ caPem: ca.certPem, servingPem: serving.certPem, now: at(1) }), 'none', []],
    ['serving just before its last third', () => ({ caPem: ca.certPem, servingPem: serving.certPem, now: at(59.9) }), 'none', []],
    ['serving in its last third', () => ({ caPem: ca.certPem, servingPem: serving.certPem, now: at(60.1) }), 'renew-serving', ['issue-serving']],
    ['serving expired', () => ({ caPem: ca.certPem, servingPem: serving.certPem, now: at(91) }), 'renew-serving', ['issue-serving']],
    ['serving from another CA', () => ({ caPem: ca.certPem, servingPem: servingFromOther.certPem, now: at(1) }), 'renew-serving', ['issue-serving']],
    ['serving lacks a wanted SAN', () => ({ caPem: ca.certPem, servingPem: servingNoLocal.certPem, dnsNames: [...DNS, 'localhost'], now: at(1) }), 'renew-serving', ['issue-serving']],
    ['serving has every wanted SAN', () => ({ caPem: ca.certPem, servingPem: serving.certPem, dnsNames: [...DNS, '127.0.0.1'], now: at(1) }), 'none', []],
    ['CA in its last third', () => ({ caPem: ca.certPem, servingPem: late.certPem, now: at(200.1) }), 'rotate-ca', ['add-ca', 'issue-serving', 'drop-old-cas']],
    ['CA expired', () => ({ caPem: ca.certPem, servingPem: late.certPem, now: at(301) }), 'rotate-ca', ['add-ca', 'issue-serving', 'drop-old-cas']],
    ['a custom fraction', () => ({ caPem: ca.certPem, servingPem: serving.certPem, now: at(50), renewBeforeFraction: 0.5 }), 'renew-serving', ['issue-serving']],
    [
      'rotation in progress, serving still from the old CA',
      () => ({ caPem: otherCa.certPem, bundlePem: ca.certPem + otherCa.certPem, servingPem: serving.certPem, now: at(1) }),
      'rotate-ca',
      ['issue-serving', 'drop-old-cas'],
    ],
    [
      'rotation in progress, serving from the new CA',
      () => ({ caPem: otherCa.certPem, bundlePem: ca.certPem + otherCa.certPem, servingPem: servingFromOther.certPem, now: at(1) }),
      'rotate-ca',
      ['drop-old-cas'],
    ],
    ['bundle holds the current CA only', () => ({ caPem: ca.certPem, bundlePem: ca.certPem, servingPem: serving.certPem, now: at(1) }), 'none', []],
  ];

  it.each(cases)('%s', (_name, input, action, steps) => {
    const plan = computeRotation(input());
    expect(plan.action).toBe(action);
    expect(plan.steps).toEqual(steps);
    expect(plan.reason).not.toBe('');
  });
});
