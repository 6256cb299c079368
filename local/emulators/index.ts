export { LOCAL_CREDENTIALS, LOCAL_REGION } from './constants';
export { startDynamo, type DynamoEmulator, type DynamoEmulatorOptions } from './dynamodb';
export { EmulatorStartError, startKinesis, waitForStreamActive, type KinesisEmulator, type KinesisEmulatorOptions } from './kinesis';
export { startSns, type DeliveryError, type LocalSubscriber, type PublishedAttribute, type PublishedMessage, type SnsEmulator, type SnsEmulatorOptions } from './sns';
