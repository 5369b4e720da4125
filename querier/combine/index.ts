// querier/combine — pure merging of partial query answers from several sources (cluster members
// now, blocks later): trace span groups with (trace ID, span ID) dedup, newest-first search lists
// with a limit, tag/service/operation lists, and the partial-answer reasons. Every merge is
// independent of the order its parts arrive in, so the same set of answers gives the same bytes.
//
// ingester/head/merge.ts holds an older, first-wins variant for one process's heads; this module
// is meant to become the one home of those merges.
export {
  ROOT_SPAN_NOT_YET_RECEIVED,
  mergeTraceGroups,
  combineSummaries,
  mergeSearchSummaries,
  mergeSortedUnique,
  mergeOperations,
  mergePartial,
  combineTraceResults,
  combineSearchResults,
} from './combine.js';
