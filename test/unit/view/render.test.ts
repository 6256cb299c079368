import { charts, escapeHtml, page, panels, scriptJson } from '../../../local/view/render';
import type { ViewState } from '../../../local/view/ViewSource';

const HOSTILE = `<img src=x onerror="alert('x')">&\`</script><!--`;

/** A state in which every payload-derived string is hostile. */
function state(): ViewState {
  return {
    now: Date.UTC(2026, 10, 27, 10, 5),
    pipelineFile: 'pipelines/sample.yaml',
    table: 'tidewatch-local-state',
    streams: [
      {
        name: 'telemetry',
        watermark: Date.UTC(2026, 10, 27, 10, 4, 50),
        outOfOrdernessMs: 5000,
        idleTimeoutMs: 60_000,
        shards: [{ shardId: 'shardId-000000000000', maxEventTime: Date.UTC(2026, 10, 27, 10, 4, 55), lastActivity: Date.UTC(2026, 10, 27, 10, 5) }],
        quarantine: { since: 0, total: 3, byReason: { schema: 2, [HOSTILE]: 1 }, capped: false },
      },
    ],
    rules: [
      {
        name: 'HighErrorRate',
        type: 'window',
        stream: 'telemetry',
        severity: 'critical',
        description: 'when errors / total > 0.05 && total >= 20',
        aggregates: ['errors', 'total'],
        thresholds: [{ aggregate: 'total', op: '>=', value: 20, text: 'total >= 20' }],
        series: { total: [{ group: `service=${HOSTILE}`, points: [[Date.UTC(2026, 10, 27, 10, 1), 30], [Date.UTC(2026, 10, 27, 10, 2), 25]] }], errors: [] },
        openWindows: 1,
        closedWindows: 1,
        latest: [{ group: `service=${HOSTILE}`, start: Date.UTC(2026, 10, 27, 10, 1), end: Date.UTC(2026, 10, 27, 10, 2), closed: true, values: { errors: 3, total: 25 } }],
        alerts: [{ group: `service=${HOSTILE}`, status: 'firing', alertId: 'a1', at: Date.UTC(2026, 10, 27, 10, 2), annotations: { summary: `${HOSTILE}: 3 of 25 failed` }, source: 'notification' }],
      },
    ],
    notifications: [],
  };
}

describe('the live view page', () => {
  it('escapes every payload-derived string: group labels, annotations, quarantine reasons', () => {
    const html = page(state());
    expect(html).not.toContain('<img');
    expect(html).not.toContain('</script><!--');
    expect(html).not.toContain(`onerror="`);
    expect(html).toContain('service=&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;&#96;&lt;/script&gt;&lt;!--');
    // exactly the page's own two scripts, both closed where the page closes them
    expect(html.match(/<script/g)).toHaveLength(2);
    expect(html.match(/<\/script>/g)).toHaveLength(2);
  });

  it('embeds the initial data as JSON that cannot end its script element, and that parses back to the same data', () => {
    const json = scriptJson({ label: HOSTILE });
    expect(json).not.toMatch(/[<>&]/);
    expect(JSON.parse(json)).toEqual({ label: HOSTILE });
  });

  it('escapes the panels it sends as updates the same way', () => {
    for (const html of Object.values(panels(state()))) expect(html).not.toMatch(/<img|<\/script|<!--/);
  });

  it('aligns the top groups on their window ends (epoch seconds) with the threshold as a line of its own', () => {
    expect(charts(state())['HighErrorRate:total']).toEqual({
      xs: [Date.UTC(2026, 10, 27, 10, 1) / 1000, Date.UTC(2026, 10, 27, 10, 2) / 1000],
      series: [{ label: `service=${HOSTILE}`, values: [30, 25] }],
      thresholds: [{ value: 20, label: 'when: total >= 20' }],
    });
    expect(charts(state())['HighErrorRate:errors']).toEqual({ xs: [], series: [], thresholds: [] });
  });

  it('escapeHtml covers the characters that end text or an attribute', () => {
    expect(escapeHtml(`&<>"'\``)).toBe('&amp;&lt;&gt;&quot;&#39;&#96;');
  });
});
