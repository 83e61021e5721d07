/**
 * The Parquet codec is the setting PARQUET_COMPRESSION (zstd | snappy): its default, its validation,
 * the startup failure when zstd is asked for on a Node without it, and how it reaches the converter.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig, settingsEnv } from '../../infra/config.js';
import { compressionOf, zstdAvailable } from '../../lib/analytics/index.js';
import { ConfigError, envFor, loadFunctionConfig, loadSettings, variablesOf } from '../../lib/config.js';

const RESOURCES = {
  JOBS_TABLE: 'jobs',
  EXPORTS_TABLE: 'exports',
  STATE_TABLE: 'state',
  BUCKET: 'bucket',
  CONVERT_QUEUE_URL: 'https://sqs.example/convert',
  ZOHO_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:zoho',
};

const codec = (v: string | undefined) => loadSettings(['PARQUET_COMPRESSION'], { PARQUET_COMPRESSION: v });

describe('PARQUET_COMPRESSION', () => {
  it('defaults to zstd where Node has zlib zstd (every Lambda runtime of the stack), else snappy', () => {
    expect(codec(undefined).PARQUET_COMPRESSION).toBe(zstdAvailable() ? 'zstd' : 'snappy');
    expect(codec('  ').PARQUET_COMPRESSION).toBe(zstdAvailable() ? 'zstd' : 'snappy');
  });

  it('takes snappy in any case and refuses other codecs, naming the setting', () => {
    expect(codec(' SNAPPY ').PARQUET_COMPRESSION).toBe('snappy');
    expect(() => codec('gzip')).toThrow(ConfigError);
    expect(() => codec('gzip')).toThrow(/PARQUET_COMPRESSION: must be zstd or snappy/);
  });

  it.runIf(zstdAvailable())('takes zstd where Node has it', () => {
    expect(codec('zstd').PARQUET_COMPRESSION).toBe('zstd');
  });

  it.runIf(!zstdAvailable())(
    `fails at startup when zstd is configured on a Node without it (Node ${process.versions.node})`,
    () => {
      expect(() => codec('zstd')).toThrow(/PARQUET_COMPRESSION: zstd needs Node >= 22.15/);
      expect(() =>
        loadFunctionConfig('convert-parquet', { ...RESOURCES, PARQUET_COMPRESSION: 'ZSTD' }),
      ).toThrow(/invalid configuration of convert-parquet: PARQUET_COMPRESSION: zstd needs Node >= 22.15/);
    },
  );

  it('is read by the functions that write Parquet: the converter, and the poller whose sweep may land a deletions file', () => {
    expect(variablesOf('convert-parquet')).toContain('PARQUET_COMPRESSION');
    expect(variablesOf('poll-jobs')).toContain('PARQUET_COMPRESSION');
    expect(variablesOf('api')).not.toContain('PARQUET_COMPRESSION');
    expect(
      loadFunctionConfig('convert-parquet', { ...RESOURCES, PARQUET_COMPRESSION: 'snappy' })
        .PARQUET_COMPRESSION,
    ).toBe('snappy');
  });

  it('is the CDK context key parquetCompression, validated at synth without looking at the synth machine’s Node', () => {
    const env = settingsEnv(parseConfig({ parquetCompression: 'ZSTD' }));
    expect(env.PARQUET_COMPRESSION).toBe('zstd');
    expect(envFor('convert-parquet', RESOURCES, env).PARQUET_COMPRESSION).toBe('zstd');
    expect(settingsEnv(parseConfig({})).PARQUET_COMPRESSION).toBeUndefined();
    expect(() => parseConfig({ parquetCompression: 'lz4' })).toThrow(
      /parquetCompression = "lz4": must be zstd or snappy/,
    );
  });

  it('names the writer’s codec', () => {
    expect(compressionOf('zstd')).toBe('ZSTD');
    expect(compressionOf('snappy')).toBe('SNAPPY');
  });
});
