// The release version of every Skein process and of the image the operator deploys by default. Kept
// equal to package.json's version by version.test.ts (read at test time: the built image need not
// ship package.json beside dist/ for this constant to be right).
export const APP_VERSION = '0.1.0';
