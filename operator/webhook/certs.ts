// The webhook's own PKI (DESIGN.md §9: no cert-manager required): a self-signed ECDSA P-256 CA, a
// serving certificate it signs for the webhook Service's DNS names, parsing, and the rotation plan.
// Generation uses @peculiar/x509 over WebCrypto; parsing and chain checks use Node's synchronous
// X509Certificate, so certificateInfo and computeRotation are pure and need no await.
//
// Rotation keeps one invariant: every serving certificate a replica may present chains to a CA in
// the caBundle the apiserver already has. Renewing the serving certificate under the same CA needs
// nothing else. Replacing the CA takes three steps, each applied (and the caBundle patched) before
// the next starts (see computeRotation).
import { X509Certificate, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import type * as X509 from '@peculiar/x509';

export interface CertKeyPair {
  /** One PEM certificate. */
  readonly certPem: string;
  /** The PKCS#8 PEM private key of certPem. */
  readonly keyPem: string;
}

export interface CertificateInfo {
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  /** RFC 2253-ish distinguished names as Node prints them, e.g. `CN=skein-webhook-ca`. */
  readonly issuer: string;
  readonly subject: string;
  readonly isCa: boolean;
  readonly serialNumber: string;
  /** SHA-256 fingerprint (colon-separated hex): the identity used to compare certificates. */
  readonly fingerprint: string;
}

export interface CreateCaOptions {
  readonly commonName: string;
  readonly validityDays: number;
  readonly now: Date;
}

export interface IssueServingCertOptions {
  readonly ca: CertKeyPair;
  /** Subject alternative names; IP literals (`127.0.0.1`, tests) become IP SANs. */
  readonly dnsNames: readonly string[];
  readonly validityDays: number;
  readonly now: Date;
}

/**
 * One step of a rotation, in the order they must happen, each one followed by patching the
 * webhook configuration's caBundle:
 * - `add-ca`: create a new CA and trust it next to the old one (bundle = old + new); the serving
 *   certificate is untouched and still chains to the old CA;
 * - `issue-serving`: issue a serving certificate from the current (newest) CA — only once the
 *   apiserver's caBundle holds that CA;
 * - `drop-old-cas`: trust only the current CA — only once no replica serves a certificate from an
 *   old one.
 */
export type RotationStep = 'add-ca' | 'issue-serving' | 'drop-old-cas';

export type RotationAction = 'none' | 'renew-serving' | 'rotate-ca';

export interface RotationPlan {
  readonly action: RotationAction;
  /** What is left to do, in order; empty for `none`. */
  readonly steps: readonly RotationStep[];
  /** Why, for logs and Events. */
  readonly reason: string;
}

export interface ComputeRotationInput {
  /** The current (signing) CA. */
  readonly caPem: string;
  readonly servingPem: string;
  /** Every CA the webhook configuration is meant to trust (defaults to caPem alone). */
  readonly bundlePem?: string;
  /** SANs the serving certificate must carry; a mismatch (Service renamed) renews it. */
  readonly dnsNames?: readonly string[];
  readonly now: Date;
  /** Renew a certificate once it is within this fraction of its lifetime of expiry (default 1/3). */
  readonly renewBeforeFraction?: number;
}

export const DEFAULT_RENEW_BEFORE_FRACTION = 1 / 3;

/** `<svc>.<ns>.svc` and `<svc>.<ns>.svc.cluster.local`: what the apiserver dials a Service webhook as. */
export function computeServiceDnsNames(serviceName: string, namespace: string): string[] {
  return [`${serviceName}.${namespace}.svc`, `${serviceName}.${namespace}.svc.cluster.local`];
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/**
 * notBefore is set this far before `now`: the apiserver checks validity against its own clock,
 * which may lag the operator's, and a certificate "not yet valid" there is an outage here.
 */
const BACKDATE_MS = 5 * 60_000;
const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * @peculiar/x509 resolves its algorithms through tsyringe, which refuses to load without the
 * Reflect metadata API: the reflect-metadata polyfill is loaded first (it is idempotent and keeps
 * any metadata a polyfill loaded earlier defined), then the library, lazily — the operator pays for
 * it only when it manages certificates.
 */
async function loadX509(): Promise<typeof X509> {
  await import('reflect-metadata');
  return import('@peculiar/x509');
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f; // a positive INTEGER without a leading zero byte
  if (bytes[0] === 0) bytes[0] = 1;
  return Buffer.from(bytes).toString('hex');
}

async function exportKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

async function importKeyPem(pem: string): Promise<webcrypto.CryptoKey> {
  const body = pem.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, '').replace(/\s+/g, '');
  return webcrypto.subtle.importKey('pkcs8', Buffer.from(body, 'base64'), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']);
}

const generateKeys = (): Promise<webcrypto.CryptoKeyPair> =>
  webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);

const pemOf = (cert: X509.X509Certificate): string => `${cert.toString('pem').trim()}\n`;

function validity(now: Date, validityDays: number): { notBefore: Date; notAfter: Date } {
  if (!(validityDays > 0)) throw new RangeError(`validityDays must be positive, got ${validityDays}`);
  return { notBefore: new Date(now.getTime() - BACKDATE_MS), notAfter: new Date(now.getTime() + validityDays * DAY_MS) };
}

/** A self-signed CA that can sign leaf certificates only (pathLength 0). */
export async function createCa(options: CreateCaOptions): Promise<CertKeyPair> {
  const x509 = await loadX509();
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerial(),
      name: [{ CN: [options.commonName] }],
      ...validity(options.now, options.validityDays),
      signingAlgorithm: ALGORITHM,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
      ],
    },
    // Explicitly, rather than through the library's global provider.
    webcrypto,
  );
  return { certPem: pemOf(cert), keyPem: await exportKeyPem(keys.privateKey) };
}

/** A serverAuth leaf for `dnsNames`, signed by `ca`, never outliving it. */
export async function issueServingCert(options: IssueServingCertOptions): Promise<CertKeyPair> {
  if (options.dnsNames.length === 0) throw new RangeError('a serving certificate needs at least one DNS name');
  const x509 = await loadX509();
  const caCert = new x509.X509Certificate(options.ca.certPem);
  const caKey = await importKeyPem(options.ca.keyPem);
  const keys = await generateKeys();
  const { notBefore, notAfter } = validity(options.now, options.validityDays);
  const names = options.dnsNames.map((name) => (isIP(name) === 0 ? { type: 'dns' as const, value: name } : { type: 'ip' as const, value: name }));
  const firstDns = options.dnsNames.find((n) => isIP(n) === 0) ?? options.dnsNames[0]!;
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: [{ CN: [firstDns] }],
      issuer: caCert.subject,
      notBefore,
      notAfter: notAfter.getTime() > caCert.notAfter.getTime() ? caCert.notAfter : notAfter,
      signingAlgorithm: ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: caKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([EKU_SERVER_AUTH], false),
        new x509.SubjectAlternativeNameExtension(names, false),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
        await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey, false, webcrypto),
      ],
    },
    // Explicitly, rather than through the library's global provider.
    webcrypto,
  );
  return { certPem: pemOf(cert), keyPem: await exportKeyPem(keys.privateKey) };
}

/** The certificates in a PEM bundle, in order (text outside the blocks is ignored). */
export function splitPemBundle(bundlePem: string): string[] {
  return [...bundlePem.matchAll(PEM_CERTIFICATE)].map((m) => `${m[0]}\n`);
}

/** Joins certificates into one bundle, dropping duplicates (by fingerprint) but keeping order. */
export function joinPemBundle(pems: readonly string[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const pem of pems.flatMap(splitPemBundle)) {
    const fp = new X509Certificate(pem).fingerprint256;
    if (seen.has(fp)) continue;
    seen.add(fp);
    out.push(pem);
  }
  return out.join('');
}

function parseSubjectAltName(san: string | undefined): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const entry of san?.split(', ') ?? []) {
    if (entry.startsWith('DNS:')) dnsNames.push(entry.slice(4));
    else if (entry.startsWith('IP Address:')) ipAddresses.push(entry.slice(11));
  }
  return { dnsNames, ipAddresses };
}

/** Parses the first certificate of `pem`; throws on anything that is not a certificate. */
export function certificateInfo(pem: string): CertificateInfo {
  const cert = new X509Certificate(pem);
  return {
    notBefore: cert.validFromDate,
    notAfter: cert.validToDate,
    ...parseSubjectAltName(cert.subjectAltName),
    issuer: cert.issuer.replace(/\n/g, ', '),
    subject: cert.subject.replace(/\n/g, ', '),
    isCa: cert.ca,
    serialNumber: cert.serialNumber,
    fingerprint: cert.fingerprint256,
  };
}

/** True when `leafPem` was signed by `caPem` (issuer name matches and the signature verifies). */
export function isSignedBy(leafPem: string, caPem: string): boolean {
  const leaf = new X509Certificate(leafPem);
  const ca = new X509Certificate(caPem);
  return leaf.checkIssued(ca) && leaf.verify(ca.publicKey);
}

/** True when `now` is in the last `fraction` of the certificate's lifetime, or past it. */
export function isDueForRenewal(info: Pick<CertificateInfo, 'notBefore' | 'notAfter'>, now: Date, fraction: number): boolean {
  const start = info.notBefore.getTime();
  const end = info.notAfter.getTime();
  return now.getTime() >= end - (end - start) * fraction;
}

const isValidAt = (info: CertificateInfo, now: Date): boolean => info.notBefore <= now && now < info.notAfter;

/**
 * What to do about the material in hand. A rotation in progress (the bundle still holds CAs other
 * than the current one) is finished before anything new starts; then a CA in its last third is
 * replaced; then a serving certificate that is due, expired, not from the current CA or missing
 * a wanted SAN is re-issued.
 */
export function computeRotation(input: ComputeRotationInput): RotationPlan {
  const fraction = input.renewBeforeFraction ?? DEFAULT_RENEW_BEFORE_FRACTION;
  const { now } = input;
  const ca = certificateInfo(input.caPem);
  const serving = certificateInfo(input.servingPem);
  const servingFromCa = isSignedBy(input.servingPem, input.caPem);
  const bundle = splitPemBundle(input.bundlePem ?? input.caPem).map(certificateInfo);
  const oldCas = bundle.filter((c) => c.fingerprint !== ca.fingerprint);

  if (oldCas.length > 0 || !bundle.some((c) => c.fingerprint === ca.fingerprint)) {
    if (!servingFromCa) {
      return { action: 'rotate-ca', steps: ['issue-serving', 'drop-old-cas'], reason: 'CA rotation in progress: the serving certificate is still from the previous CA' };
    }
    return { action: 'rotate-ca', steps: ['drop-old-cas'], reason: 'CA rotation in progress: the previous CA is no longer needed' };
  }
  if (!isValidAt(ca, now) || isDueForRenewal(ca, now, fraction)) {
    const when = now >= ca.notAfter ? 'expired' : `expires ${ca.notAfter.toISOString()}`;
    return { action: 'rotate-ca', steps: ['add-ca', 'issue-serving', 'drop-old-cas'], reason: `the CA ${when}` };
  }
  const renew = (reason: string): RotationPlan => ({ action: 'renew-serving', steps: ['issue-serving'], reason });
  if (!servingFromCa) return renew('the serving certificate is not signed by the current CA');
  if (!isValidAt(serving, now)) return renew(now >= serving.notAfter ? 'the serving certificate expired' : 'the serving certificate is not yet valid');
  if (isDueForRenewal(serving, now, fraction)) return renew(`the serving certificate expires ${serving.notAfter.toISOString()}`);
  const sans = new Set([...serving.dnsNames, ...serving.ipAddresses]);
  const missing = (input.dnsNames ?? []).filter((n) => !sans.has(n));
  if (missing.length > 0) return renew(`the serving certificate lacks ${missing.join(', ')}`);
  return { action: 'none', steps: [], reason: 'certificates are valid' };
}
