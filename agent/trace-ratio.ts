// The consistent trace-ID ratio lives in common/sampling (the ingesters' tail sampling decides the
// same way); re-exported here so the agent's modules keep their import.
export { computeRejectionThreshold, keepsTrace, thresholdProbability, type RejectionThreshold } from '../common/sampling/index.js';
