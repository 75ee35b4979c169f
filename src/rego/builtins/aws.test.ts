import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type RObject, obj } from '../value.js';
import { arbValue, call, callNoCrash, expectError } from './test-support/harness.js';

// The worked example of the AWS Signature Version 4 documentation (IAM ListUsers, 2015-08-30T12:36:00Z),
// whose published signature is 5d672d79…f2b5d7.
test('sign_req reproduces the AWS SigV4 documentation example', () => {
  const req = obj({
    method: 'GET',
    url: 'https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08',
    headers: obj({ 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }),
  });
  const creds = obj({ aws_access_key: 'AKIDEXAMPLE', aws_secret_access_key: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', aws_region: 'us-east-1', aws_service: 'iam' });
  const out = call('providers.aws.sign_req', [req, creds, 1440938160000000000]) as RObject;
  const h = out.getStr('headers') as RObject;
  assert.equal(
    h.getStr('Authorization'),
    'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request,SignedHeaders=content-type;host;x-amz-date,Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7',
  );
  assert.equal(h.getStr('x-amz-date'), '20150830T123600Z');
  assert.equal(h.getStr('host'), 'iam.amazonaws.com');
  assert.equal(out.getStr('method'), 'GET');
});

test('sign_req validates its operands like OPA', () => {
  const req = obj({ method: 'GET', url: 'https://example.com/' });
  expectError('providers.aws.sign_req', [req, obj({ aws_service: 's3' }), 0], 'missing required AWS config parameters(s)', 'eval_type_error');
  expectError('providers.aws.sign_req', [obj({ url: 'x' }), obj({ aws_service: 's3', aws_access_key: 'a', aws_secret_access_key: 'b', aws_region: 'r' }), 0], 'missing required request parameters(s): {"method"}');
  const cfg = obj({ aws_service: 's3', aws_access_key: 'a', aws_secret_access_key: 'b', aws_region: 'r' });
  // OPA's position numbers for the config and timestamp type errors (both "operand 1")
  expectError('providers.aws.sign_req', [req, 'cfg', 0], 'providers.aws.sign_req: operand 1 must be object but got string', 'eval_type_error');
  expectError('providers.aws.sign_req', [req, cfg, '2024'], 'providers.aws.sign_req: operand 1 must be number but got string', 'eval_type_error');
  expectError('providers.aws.sign_req', [req, cfg, 1.5], 'providers.aws.sign_req: operand 3 could not convert time_ns value into a unix timestamp', 'eval_type_error');
  expectError('providers.aws.sign_req', [req, cfg, 2n ** 63n], 'operand 3 could not convert time_ns value into a unix timestamp', 'eval_type_error');
  const s3 = call('providers.aws.sign_req', [req, obj({ aws_service: 's3', aws_access_key: 'a', aws_secret_access_key: 'b', aws_region: 'r', aws_session_token: 't' }), 0]) as RObject;
  const h = s3.getStr('headers') as RObject;
  assert.equal(h.getStr('x-amz-content-sha256'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(h.getStr('x-amz-security-token'), 't');
});

test('sign_req never fails with anything but a BuiltinError', () => {
  fc.assert(fc.property(arbValue(), arbValue(), arbValue(), (a, b, c) => callNoCrash('providers.aws.sign_req', [a, b, c])), { numRuns: 1000 });
});
