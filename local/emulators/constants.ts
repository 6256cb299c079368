/** Region the local emulators use unless told otherwise. */
export const LOCAL_REGION = 'us-east-1';

/** Dummy credentials: the emulators accept any signature. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
