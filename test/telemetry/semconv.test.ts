import { describe, expect, it } from 'vitest';
import * as stable from '@opentelemetry/semantic-conventions';
import * as incubating from '@opentelemetry/semantic-conventions/incubating';
import { NODE_TRANSITIONS } from '../../contract/lifecycle.js';
import { NODE_STATES } from '../../contract/types.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_PROCESS_EXECUTABLE_NAME,
  ATTR_PROCESS_EXIT_CODE,
  ATTR_PROCESS_PID,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_NAMESPACE,
  ERROR_TYPE_VALUE_OTHER,
  METRIC_PROCESS_UPTIME,
  RESTART_REASON_VALUES,
} from '../../telemetry/semconv.js';
import * as semconv from '../../telemetry/semconv.js';

describe('semconv', () => {
  it('matches the OpenTelemetry semantic conventions package where a name exists', () => {
    expect(ATTR_ERROR_TYPE).toBe(stable.ATTR_ERROR_TYPE);
    expect(ATTR_SERVICE_NAME).toBe(stable.ATTR_SERVICE_NAME);
    expect(ERROR_TYPE_VALUE_OTHER).toBe(stable.ERROR_TYPE_VALUE_OTHER);
    expect(ATTR_SERVICE_NAMESPACE).toBe(incubating.ATTR_SERVICE_NAMESPACE);
    expect(ATTR_PROCESS_PID).toBe(incubating.ATTR_PROCESS_PID);
    expect(ATTR_PROCESS_EXIT_CODE).toBe(incubating.ATTR_PROCESS_EXIT_CODE);
    expect(ATTR_PROCESS_EXECUTABLE_NAME).toBe(incubating.ATTR_PROCESS_EXECUTABLE_NAME);
    expect(METRIC_PROCESS_UPTIME).toBe(incubating.METRIC_PROCESS_UPTIME);
    expect(semconv.METRIC_PROCESS_CPU_TIME).toBe(incubating.METRIC_PROCESS_CPU_TIME);
    expect(semconv.METRIC_PROCESS_MEMORY_USAGE).toBe(incubating.METRIC_PROCESS_MEMORY_USAGE);
    expect(semconv.METRIC_PROCESS_MEMORY_VIRTUAL).toBe(incubating.METRIC_PROCESS_MEMORY_VIRTUAL);
    expect(semconv.METRIC_PROCESS_DISK_IO).toBe(incubating.METRIC_PROCESS_DISK_IO);
    expect(semconv.METRIC_PROCESS_THREAD_COUNT).toBe(incubating.METRIC_PROCESS_THREAD_COUNT);
    expect(semconv.METRIC_PROCESS_UNIX_FILE_DESCRIPTOR_COUNT).toBe(incubating.METRIC_PROCESS_UNIX_FILE_DESCRIPTOR_COUNT);
    expect(semconv.METRIC_PROCESS_CONTEXT_SWITCHES).toBe(incubating.METRIC_PROCESS_CONTEXT_SWITCHES);
    expect(semconv.METRIC_PROCESS_PAGING_FAULTS).toBe(incubating.METRIC_PROCESS_PAGING_FAULTS);
    expect(semconv.ATTR_CPU_MODE).toBe(incubating.ATTR_CPU_MODE);
    expect(semconv.ATTR_DISK_IO_DIRECTION).toBe(incubating.ATTR_DISK_IO_DIRECTION);
    expect(semconv.ATTR_PROCESS_CONTEXT_SWITCH_TYPE).toBe(incubating.ATTR_PROCESS_CONTEXT_SWITCH_TYPE);
    expect(semconv.ATTR_PROCESS_PAGING_FAULT_TYPE).toBe(incubating.ATTR_PROCESS_PAGING_FAULT_TYPE);
    expect(semconv.ATTR_PROCESS_COMMAND_ARGS).toBe(incubating.ATTR_PROCESS_COMMAND_ARGS);
    expect(semconv.ATTR_LOG_IOSTREAM).toBe(incubating.ATTR_LOG_IOSTREAM);
    expect(semconv.CPU_MODE_VALUE_USER).toBe(incubating.CPU_MODE_VALUE_USER);
    expect(semconv.CPU_MODE_VALUE_SYSTEM).toBe(incubating.CPU_MODE_VALUE_SYSTEM);
    expect(semconv.DISK_IO_DIRECTION_VALUE_READ).toBe(incubating.DISK_IO_DIRECTION_VALUE_READ);
    expect(semconv.DISK_IO_DIRECTION_VALUE_WRITE).toBe(incubating.DISK_IO_DIRECTION_VALUE_WRITE);
    expect(semconv.CONTEXT_SWITCH_TYPE_VALUE_VOLUNTARY).toBe(incubating.PROCESS_CONTEXT_SWITCH_TYPE_VALUE_VOLUNTARY);
    expect(semconv.CONTEXT_SWITCH_TYPE_VALUE_INVOLUNTARY).toBe(incubating.PROCESS_CONTEXT_SWITCH_TYPE_VALUE_INVOLUNTARY);
    expect(semconv.PAGING_FAULT_TYPE_VALUE_MAJOR).toBe(incubating.PROCESS_PAGING_FAULT_TYPE_VALUE_MAJOR);
    expect(semconv.PAGING_FAULT_TYPE_VALUE_MINOR).toBe(incubating.PROCESS_PAGING_FAULT_TYPE_VALUE_MINOR);
  });

  it('has a drover.node.state series for every node state: NODE_STATES lists each state of the transition table once', () => {
    expect([...NODE_STATES].sort()).toEqual(Object.keys(NODE_TRANSITIONS).sort());
    expect(new Set(NODE_STATES).size).toBe(NODE_STATES.length);
  });

  it('lists every restart reason plus unknown', () => {
    expect(RESTART_REASON_VALUES).toEqual(['exited', 'crashed', 'shepherd-lost', 'manual', 'watch', 'unknown']);
  });

  it('keeps project metric and attribute names under drover. and lowercase dotted', () => {
    const names = Object.entries(semconv)
      .filter(([key]) => key.startsWith('METRIC_') || key.startsWith('ATTR_'))
      .map(([, value]) => value as string);
    for (const name of names) {
      expect(name).toMatch(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/);
      expect(name.startsWith('drover.') || /^(process|error|service|cpu|disk|log|test|code)\./.test(name)).toBe(true);
    }
  });
});
