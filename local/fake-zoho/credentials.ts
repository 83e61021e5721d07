/**
 * The fake Zoho's default OAuth client. Kept apart from the server so that code which only needs the
 * credentials (the bench workers) does not load the server and its CSV word pool.
 */
export const DEFAULT_CLIENT = {
  clientId: 'fake-client-id',
  clientSecret: 'fake-client-secret',
  refreshToken: 'fake-refresh-token',
  userId: '3652397000000186017',
  userName: 'Patricia Boyle',
} as const;

/** The default client's credentials in the shape the token broker takes. */
export const fakeCredentials = async (): Promise<{
  clientId: string;
  clientSecret: string;
  refreshToken: string;
}> => ({
  clientId: DEFAULT_CLIENT.clientId,
  clientSecret: DEFAULT_CLIENT.clientSecret,
  refreshToken: DEFAULT_CLIENT.refreshToken,
});
