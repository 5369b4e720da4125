import { describe, expect, it } from 'vitest';
import { buildMutatingWebhookConfiguration, SYSTEM_NAMESPACES, WEBHOOK_NAME } from './webhook-config.js';

const SERVICE = { namespace: 'skein-system', name: 'skein-webhook', port: 443, path: '/mutate' };
const webhooksOf = (o: ReturnType<typeof buildMutatingWebhookConfiguration>): any[] => o['webhooks'] as any[];

describe('buildMutatingWebhookConfiguration', () => {
  const built = buildMutatingWebhookConfiguration({
    name: 'skein-inject',
    service: SERVICE,
    caBundlePem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
    excludedNamespaces: [...SYSTEM_NAMESPACES, 'skein-system', 'kube-system'],
  });

  it('is one fail-open pod CREATE webhook', () => {
    expect(built.apiVersion).toBe('admissionregistration.k8s.io/v1');
    expect(built.kind).toBe('MutatingWebhookConfiguration');
    expect(built.metadata.name).toBe('skein-inject');
    expect(built.metadata.namespace).toBeUndefined();
    const hooks = webhooksOf(built);
    expect(hooks).toHaveLength(1);
    expect(hooks[0]).toMatchObject({
      name: WEBHOOK_NAME,
      rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
      failurePolicy: 'Ignore',
      sideEffects: 'None',
      reinvocationPolicy: 'IfNeeded',
      admissionReviewVersions: ['v1'],
      matchPolicy: 'Equivalent',
      timeoutSeconds: 5,
    });
  });

  it('excludes the system namespaces and the operator’s, once each, sorted', () => {
    expect(webhooksOf(built)[0].namespaceSelector).toEqual({
      matchExpressions: [
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-node-lease', 'kube-public', 'kube-system', 'skein-system'] },
      ],
    });
  });

  it('points at the Service with the base64 caBundle', () => {
    expect(webhooksOf(built)[0].clientConfig).toEqual({
      service: SERVICE,
      caBundle: Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n').toString('base64'),
    });
  });

  it('takes a URL instead (tests), and no caBundle until there is one', () => {
    const o = buildMutatingWebhookConfiguration({ name: 'x', url: 'https://127.0.0.1:8443/mutate', excludedNamespaces: [], timeoutSeconds: 3 });
    expect(webhooksOf(o)[0].clientConfig).toEqual({ url: 'https://127.0.0.1:8443/mutate' });
    expect(webhooksOf(o)[0].timeoutSeconds).toBe(3);
    expect(webhooksOf(o)[0].namespaceSelector).toEqual({ matchExpressions: [] });
  });

  it.each([
    ['neither service nor url', { name: 'x', excludedNamespaces: [] }],
    ['both service and url', { name: 'x', service: SERVICE, url: 'https://a/mutate', excludedNamespaces: [] }],
    ['a timeout over 30 s', { name: 'x', service: SERVICE, excludedNamespaces: [], timeoutSeconds: 31 }],
    ['a zero timeout', { name: 'x', service: SERVICE, excludedNamespaces: [], timeoutSeconds: 0 }],
  ])('rejects %s', (_name, params) => {
    expect(() => buildMutatingWebhookConfiguration(params)).toThrow();
  });

  it('is deterministic', () => {
    const params = { name: 'a', service: SERVICE, excludedNamespaces: ['b', 'a'] };
    expect(buildMutatingWebhookConfiguration(params)).toEqual(buildMutatingWebhookConfiguration(params));
  });
});
