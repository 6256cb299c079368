export { EventSourceMapping, type IdleOptions } from './EventSourceMapping';
export { EventSourceMappingConfigError, EventSourceMappingError, IdleTimeoutError } from './errors';
export type {
  EventSourceMappingOptions,
  EventSourceMappingStats,
  FailureCondition,
  KinesisHandler,
  Log,
  LogLevel,
  OnFailureDestination,
  OnFailureRecord,
  ShardStats,
  StartingPosition,
} from './types';
