// Kubernetes Events for what a person watching `kubectl describe tc` should see: condition
// transitions, recreated StatefulSets, errors. core/v1 Events (what kubectl describe lists), one per
// occurrence; an identical event (same object, reason and message) within the dedup window bumps the
// count of the one already written instead of adding another, like client-go's correlator.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../common/log/index.js';
import type { KubeClient, KubeObject } from '../kube/index.js';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  /** Best effort: failures are logged, never thrown (an event must not fail a reconcile). */
  record(object: KubeObject, type: EventType, reason: string, message: string): Promise<void>;
}

export interface EventRecorderOptions {
  readonly kube: KubeClient;
  readonly component: string;
  /** The operator pod (reportingInstance). */
  readonly instance: string;
  readonly logger: Logger;
  readonly now?: () => Date;
  readonly dedupWindowMs?: number;
}

const MAX_MESSAGE = 1024;
const MAX_REMEMBERED = 1000;

export function createEventRecorder(options: EventRecorderOptions): EventRecorder {
  const now = options.now ?? (() => new Date());
  const windowMs = options.dedupWindowMs ?? 10 * 60_000;
  const recent = new Map<string, { name: string; namespace: string; count: number; first: string; at: number }>();

  return {
    async record(object, type, reason, message) {
      const namespace = object.metadata.namespace ?? 'default';
      const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message;
      const dedupKey = `${object.metadata.uid ?? ''}\u0000${type}\u0000${reason}\u0000${text}`;
      const t = now();
      const stamp = t.toISOString().replace(/\.\d+Z$/, 'Z');
      try {
        const seen = recent.get(dedupKey);
        if (seen !== undefined && t.getTime() - seen.at < windowMs) {
          seen.count++;
          seen.at = t.getTime();
          await options.kube.mergePatch({ apiVersion: 'v1', kind: 'Event', namespace: seen.namespace, name: seen.name }, { count: seen.count, lastTimestamp: stamp });
          return;
        }
        const name = `${object.metadata.name}.${randomBytes(8).toString('hex')}`;
        await options.kube.create({
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name, namespace },
          involvedObject: {
            apiVersion: object.apiVersion,
            kind: object.kind,
            name: object.metadata.name,
            namespace,
            ...(object.metadata.uid === undefined ? {} : { uid: object.metadata.uid }),
          },
          type,
          reason,
          message: text,
          count: 1,
          firstTimestamp: stamp,
          lastTimestamp: stamp,
          source: { component: options.component },
          reportingComponent: options.component,
          reportingInstance: options.instance,
        });
        if (recent.size >= MAX_REMEMBERED) recent.delete(recent.keys().next().value!);
        recent.set(dedupKey, { name, namespace, count: 1, first: stamp, at: t.getTime() });
      } catch (e) {
        // A missing event is a lost hint, not lost state; say so once per failure and move on.
        recent.delete(dedupKey);
        options.logger.warn({ err: e, reason, object: `${namespace}/${object.metadata.name}` }, 'could not record an event');
      }
    },
  };
}
