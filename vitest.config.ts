import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // install.sh in an arm64 root takes ~9 minutes: not part of `npm test`, run by `npm run bench -- arm64-install`.
    // The dev image (~1.4 GiB) takes too long to build for CI: run by `npm run bench -- dev-secrets`.
    exclude: [
      ...configDefaults.exclude,
      ...(process.env.HOB_ARM64_INSTALL_TEST === '1' ? [] : ['test/system/install-arm64.test.ts']),
      ...(process.env.HOB_DEV_IMAGE_TEST === '1' ? [] : ['test/e2e/dev-secrets.test.ts']),
    ],
    // VMs under TCG are slow and share two cores: e2e files run one at a time.
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 600_000,
    globalSetup: ['test/global-setup.ts'],
    reporters: ['default'],
  },
});
