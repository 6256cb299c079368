import { compileExpression, eventVariables, ExpressionError, regexRisk, tryCompileExpression } from '../../../lambdas/core/expression';
import { PipelineError } from '../../../lambdas/core/pipeline';

const HTTP = { eventId: 'e-1', ts: '2026-11-27T10:00:01.234Z', kind: 'http', service: 'api', host: 'web-3', status: 503, latencyMs: 42.5 };
const HEARTBEAT = { eventId: 'e-2', ts: '2026-11-27T10:00:02.000Z', kind: 'heartbeat', host: 'web-3' };

/** The ExpressionError thrown by `f`. */
function expressionError(f: () => unknown): ExpressionError {
  try {
    f();
  } catch (e) {
    if (e instanceof ExpressionError) return e;
    throw e;
  }
  throw new Error('expected an ExpressionError');
}

/** The message of the PipelineError thrown by compiling `source`. */
function compileError(source: string): string {
  try {
    compileExpression(source, { what: 'where' });
  } catch (e) {
    if (e instanceof PipelineError) return e.message;
    throw e;
  }
  throw new Error(`expected ${source} not to compile`);
}

describe('compileExpression: filters over events', () => {
  it('evaluates a filter over payload fields', () => {
    // Arrange
    const filter = compileExpression('service == "api" && status >= 500', { what: 'where', result: 'bool' });

    // Act
    const results = [filter.evaluate(eventVariables(HTTP)), filter.evaluate(eventVariables({ ...HTTP, status: 200 })), filter.evaluate(eventVariables({ ...HTTP, service: 'web' }))];

    // Assert
    expect(filter.source).toBe('service == "api" && status >= 500');
    expect(results).toEqual([true, false, false]);
  });

  it('is false, not an error, when && stops before a missing field', () => {
    // Arrange
    const filter = compileExpression('kind == "http" && status >= 500', { what: 'where' });
    const reversed = compileExpression('status >= 500 && kind == "http"', { what: 'where' });

    // Act
    const results = [filter.evaluate(eventVariables(HEARTBEAT)), reversed.evaluate(eventVariables(HEARTBEAT))];

    // Assert: CEL's && is commutative over errors: false wins either way
    expect(results).toEqual([false, false]);
  });

  it('throws a clear ExpressionError for a missing field', () => {
    // Arrange
    const filter = compileExpression('service == "api" && status >= 500', { what: 'rule "HighErrorRate" where' });

    // Act
    const error = expressionError(() => filter.evaluate(eventVariables({ kind: 'http', service: 'api' })));

    // Assert
    expect(error.name).toBe('ExpressionError');
    expect(error.message).toBe(
      'rule "HighErrorRate" where: Unknown variable: status (the event has no field "status"; guard optional fields with has(event.status)) in \'service == "api" && status >= 500\'',
    );
    expect(error.code).toBe('unknown_variable');
    expect(error.source).toBe('service == "api" && status >= 500');
    expect(error.what).toBe('rule "HighErrorRate" where');
  });

  it('guards optional fields with has(event.x)', () => {
    // Arrange
    const filter = compileExpression('has(event.status) && status >= 500', { what: 'where' });

    // Act
    const results = [filter.evaluate(eventVariables(HEARTBEAT)), filter.evaluate(eventVariables(HTTP))];

    // Assert
    expect(results).toEqual([false, true]);
  });

  it('reaches a field named type as event.type, and rejects bare type names with that hint', () => {
    // Arrange
    const filter = compileExpression('event.type == "http"', { what: 'where' });
    const typeLiteral = compileExpression('type(status) == double', { what: 'where' });

    // Act
    const matched = filter.evaluate(eventVariables({ type: 'http' }));
    const isDouble = typeLiteral.evaluate(eventVariables(HTTP));
    const bareType = compileError('type == "http"');
    const bareBytes = compileError('bytes > 100');

    // Assert
    expect(matched).toBe(true);
    expect(isDouble).toBe(true);
    expect(bareType).toBe("<expression>: field \"where\": `type` is a CEL type name, not your payload field: write event.type (at offset 0 of 'type == \"http\"')");
    expect(bareBytes).toBe("<expression>: field \"where\": `bytes` is a CEL type name, not your payload field: write event.bytes (at offset 0 of 'bytes > 100')");
  });

  it('rejects a CEL namespace used as a field, and keeps cel.bind working beside a field named cel', () => {
    // Arrange
    const withFields = { ...HTTP, optional: 'yes', cel: 1, google: 'g' };

    // Act
    const bareGoogle = compileError('google == "x"');
    const googleMember = compileError('google.x == 1');
    const bareOptional = compileError('kind == "http" && optional == "yes"');
    const viaEvent = compileExpression('event.optional == "yes" && event.cel == 1.0 && event.google == "g"', { what: 'where' }).evaluate(eventVariables(withFields));
    const optionalOf = compileError('optional.of(status).hasValue()');
    const celBind = compileExpression('cel.bind(s, status, s >= 500.0)', { what: 'where' }).evaluate(eventVariables(withFields));
    const fastField = compileExpression('status >= 500', { what: 'where' }).evaluate(eventVariables(withFields));
    const direct = compileExpression('event.cel', { what: 'value' });
    const directValues = [direct.evaluate(eventVariables(withFields)), direct.evaluate(withFields)];
    const has = compileExpression('has(event.google) && !has(event.optional.x)', { what: 'where' });
    const hasValues = [has.evaluate(eventVariables(withFields)), has.evaluate(withFields)];

    // Assert
    expect(bareGoogle).toBe("<expression>: field \"where\": `google` is a CEL namespace, not your payload field: write event.google (at offset 0 of 'google == \"x\"')");
    expect(googleMember).toBe("<expression>: field \"where\": `google` is a CEL namespace, not your payload field: write event.google (at offset 0 of 'google.x == 1')");
    expect(bareOptional).toBe(
      "<expression>: field \"where\": `optional` is a CEL namespace, not your payload field: write event.optional (at offset 18 of 'kind == \"http\" && optional == \"yes\"')",
    );
    expect(viaEvent).toBe(true);
    expect(optionalOf).toBe(
      "<expression>: field \"where\": `optional` is a CEL namespace, not your payload field: write event.optional (at offset 0 of 'optional.of(status).hasValue()')",
    );
    expect(celBind).toBe(true);
    expect(fastField).toBe(true);
    expect(directValues).toEqual([1, 1]);
    expect(hasValues).toEqual([true, true]);
    // The payload itself is left as it was decoded.
    expect(Object.keys(withFields)).toEqual([...Object.keys(HTTP), 'optional', 'cel', 'google']);
  });

  it('reads event.event as the payload\'s own field only, also in expressions only the interpreter runs', () => {
    // Arrange: size() and exists() are outside the fast closures' subset
    const hasEvent = compileExpression('has(event.event) && size(s) > 0', { what: 'where' });
    const eventKind = compileExpression('size(s) > 0 && event.event.kind == "http"', { what: 'where' });
    const inList = compileExpression('[event].exists(e, has(e.event))', { what: 'where' });
    const celField = compileExpression('size(s) > 0 && event.cel == 1.0 && cel.bind(x, s, size(x) == 3)', { what: 'where' });
    const plain = { s: 'abc', kind: 'http' };
    const withEvent = { s: 'abc', kind: 'http', event: { kind: 'http' } };

    // Act
    const withoutField = [hasEvent.evaluate(eventVariables({ ...plain })), inList.evaluate(eventVariables({ ...plain }))];
    const missing = expressionError(() => eventKind.evaluate(eventVariables({ ...plain })));
    const withField = [hasEvent.evaluate(eventVariables(withEvent)), eventKind.evaluate(eventVariables(withEvent)), inList.evaluate(eventVariables(withEvent))];
    const namespaceField = celField.evaluate(eventVariables({ s: 'abc', cel: 1 }));

    // Assert
    expect(withoutField).toEqual([false, false]);
    expect(missing.message).toBe('where: No such key: event in \'size(s) > 0 && event.event.kind == "http"\'');
    expect(withField).toEqual([true, true, true]);
    expect(namespaceField).toBe(true);
  });

  it('explains int arithmetic on JSON numbers (doubles) at run time', () => {
    // Arrange
    const expr = compileExpression('latencyMs + 1 > 100.0', { what: 'where' });

    // Act
    const error = expressionError(() => expr.evaluate(eventVariables(HTTP)));

    // Assert
    expect(error.message).toBe(
      "where: no such overload: dyn<double> + int (JSON numbers are CEL doubles: write 1.0 rather than 1 in arithmetic, or convert with int(x) / double(x)) in 'latencyMs + 1 > 100.0'",
    );
    expect(compileExpression('latencyMs + 1.0 > 43.0', { what: 'where' }).evaluate(eventVariables(HTTP))).toBe(true);
  });

  it('returns plain numbers for CEL ints and uints, also inside lists and maps', () => {
    // Arrange
    const sources = ['size(service)', '[1, 2]', '{"a": 1}', '7u', 'int(latencyMs)', 'latencyMs'];

    // Act
    const values = sources.map((s) => compileExpression(s, { what: 'value' }).evaluate(eventVariables(HTTP)));

    // Assert
    expect(values).toEqual([3, [1, 2], { a: 1 }, 7, 42, 42.5]);
  });

  it('checks the result type at compile time', () => {
    // Act
    const asBool = tryCompileExpression('"x" + service', { what: 'where', result: 'bool' });
    const asNumber = tryCompileExpression('service', { what: 'value', result: 'number' });
    const dynIsAccepted = tryCompileExpression('status', { what: 'where', result: 'bool' });

    // Assert
    expect(asBool).toEqual({ ok: false, message: 'must be a boolean (true/false), but this expression gives string', offset: 0 });
    expect(asNumber.ok).toBe(true);
    expect(dynIsAccepted.ok).toBe(true);
  });
});

describe('compileExpression: typed variables (when)', () => {
  const variables = { errors: 'double', total: 'double', service: 'dyn' } as const;

  it('evaluates over the declared names', () => {
    // Arrange
    const when = compileExpression('errors / total > 0.05 && total >= 20', { what: 'when', variables, result: 'bool' });

    // Act
    const results = [when.evaluate({ errors: 2, total: 20, service: 'api' }), when.evaluate({ errors: 1, total: 20, service: 'api' })];

    // Assert
    expect(results).toEqual([true, false]);
  });

  it('rejects unknown names with a suggestion', () => {
    // Act
    const r = tryCompileExpression('erors > 1.0', { what: 'when', variables });

    // Assert
    expect(r).toEqual({ ok: false, message: 'unknown name "erors": this expression may use errors, total, service; did you mean "errors"?', offset: 0 });
  });

  it('throws an ExpressionError when a value is null (e.g. avg of an empty window)', () => {
    // Arrange
    const when = compileExpression('errors > 1.0', { what: 'when', variables });

    // Act
    const error = expressionError(() => when.evaluate({ errors: null, total: 0, service: 'api' }));

    // Assert
    expect(error.message).toBe("when: Variable 'errors' is not of type 'double', got 'null' in 'errors > 1.0'");
  });
});

describe('compileExpression: the host is out of reach', () => {
  it('does not compile calls to host functions, JavaScript prototype names or eval-like code', () => {
    // Arrange
    const exit = jest.spyOn(process, 'exit').mockImplementation((() => undefined) as never);

    // Act
    const messages = [
      'process.exit()',
      'constructor.constructor("return process")()',
      'constructor',
      'toString',
      '__proto__',
      'require("child_process")',
      'eval("1")',
    ].map(compileError);
    exit.mockRestore();

    // Assert
    expect(exit).not.toHaveBeenCalled();
    expect(messages).toEqual([
      "<expression>: field \"where\": found no matching overload for 'dyn.exit()' (at offset 0 of 'process.exit()')",
      '<expression>: field "where": invalid CEL: Unexpected character: \'(\' (at offset 41 of \'constructor.constructor("return process")()\')',
      "<expression>: field \"where\": \"constructor\" cannot be used as a name here: write event.constructor for a payload field (at offset 0 of 'constructor')",
      "<expression>: field \"where\": \"toString\" cannot be used as a name here: write event.toString for a payload field (at offset 0 of 'toString')",
      "<expression>: field \"where\": invalid CEL: Reserved identifier: __proto__ (at offset 0 of '__proto__')",
      "<expression>: field \"where\": found no matching overload for 'require(string)' (at offset 0 of 'require(\"child_process\")')",
      "<expression>: field \"where\": found no matching overload for 'eval(string)' (at offset 0 of 'eval(\"1\")')",
    ]);
  });

  it('evaluates harmlessly when the data holds functions or prototype names', () => {
    // Arrange
    let called = false;
    const vars = Object.assign(eventVariables(HTTP), { f: () => (called = true), process });
    const sources = ['f', 'event.constructor', 'event["__proto__"]', 'process.pid > 0.0'];

    // Act
    const errors = sources.map((s) => expressionError(() => compileExpression(s, { what: 'where' }).evaluate(vars)).message);

    // Assert
    expect(called).toBe(false);
    expect(errors).toEqual([
      "where: Unsupported type: function in 'f'",
      "where: No such key: constructor in 'event.constructor'",
      "where: No such key: __proto__ in 'event[\"__proto__\"]'",
      "where: Unsupported type: process in 'process.pid > 0.0'",
    ]);
  });
});

describe('compileExpression: cost limits', () => {
  it('rejects oversized expressions at compile time', () => {
    // Arrange
    const sources = [
      `${'('.repeat(500)}1${')'.repeat(500)}`,
      Array.from({ length: 120 }, (_, i) => `a${i}`).join(' + '),
      `x in [${Array.from({ length: 101 }, (_, i) => i).join(',')}]`,
      'f(1, 2, 3, 4, 5, 6, 7, 8, 9)',
      'x'.repeat(2001),
    ];

    // Act
    const results = sources.map((s) => tryCompileExpression(s, { what: 'where' }));

    // Assert
    expect(results.map((r) => (r.ok ? 'compiled' : r.message))).toEqual([
      'expression is too complex: Exceeded maxDepth (24)',
      'expression is too complex: Exceeded maxAstNodes (200)',
      'expression is too complex: Exceeded maxListElements (100)',
      'expression is too complex: Exceeded maxCallArguments (8)',
      'expression is too long (2001 characters; at most 2000)',
    ]);
  });

  it('keeps comprehensions linear and regular expressions literal and backtracking-safe', () => {
    // Arrange
    const accepted = ['tags.exists(t, t == "x")', 'tags.filter(t, t != "").map(t, t + "!").size() > 0', 'path.matches("^/api/v[0-9]+/")'];
    const rejected = ['tags.exists(a, tags.all(b, a == b))', 'path.matches("(a|aa)*$")', 'path.matches(pattern)', 'matches(path, "(x+x+)+y")'];

    // Act
    const ok = accepted.map((s) => tryCompileExpression(s, { what: 'where' }).ok);
    const failed = rejected.map((s) => tryCompileExpression(s, { what: 'where' }).ok);

    // Assert
    expect(ok).toEqual([true, true, true]);
    expect(failed).toEqual([false, false, false, false]);
  });

  it.each([
    ['^api-[0-9]+$', null],
    ['(ab)+', null],
    ['^(GET|POST) /', null],
    ['[a-z]+(\\.[a-z]+)?', null],
    ['[(+]+', null],
    ['(a+)+', 'a repeated group contains repetition or alternation (e.g. (a+)+ or (a|b)*), which can take exponential time'],
    ['(a|aa)*', 'a repeated group contains repetition or alternation (e.g. (a+)+ or (a|b)*), which can take exponential time'],
    ['(\\w+\\s?)*$', 'a repeated group contains repetition or alternation (e.g. (a+)+ or (a|b)*), which can take exponential time'],
    ['((a*)b){2,}', 'a repeated group contains repetition or alternation (e.g. (a+)+ or (a|b)*), which can take exponential time'],
    ['(a)\\1', 'backreferences are not allowed'],
  ])('regexRisk(%j) is %j', (pattern, expected) => {
    // Act
    const risk = regexRisk(pattern);

    // Assert
    expect(risk).toBe(expected);
  });

  it('evaluates a typical filter fast (parse once, evaluate many)', () => {
    // Arrange
    const filter = compileExpression('service == "api" && status >= 500', { what: 'where' });
    const events = [HTTP, { ...HTTP, status: 200 }, { ...HTTP, service: 'web' }].map(eventVariables);
    const n = 300_000;
    let matched = 0;

    // Act
    const start = performance.now();
    for (let i = 0; i < n; i++) if (filter.evaluate(events[i % 3]!) === true) matched++;
    const perSecond = n / ((performance.now() - start) / 1000);

    // Assert: > 2M/s when measured under plain Node; jest's instrumentation-free swc build is slower, so the bound here is loose
    expect(matched).toBe(n / 3);
    expect(perSecond).toBeGreaterThan(200_000);
  });
});

describe('eventVariables', () => {
  it('exposes every field as a variable and the whole payload as event (which wins over a field named event)', () => {
    // Arrange
    const payload = { kind: 'http', event: 'login', nested: { a: 1 } };
    const expr = compileExpression('kind == "http" && event.event == "login" && nested.a == 1 && event.nested.a == 1', { what: 'where' });

    // Act
    const result = expr.evaluate(eventVariables(payload));

    // Assert
    expect(result).toBe(true);
  });
});
