/** What every fault span and fault event says about the fault. */

import type { Attributes } from '@opentelemetry/api';
import type { FaultRecord } from '../contract/types.js';

import { ATTR_FAULT_BY, ATTR_FAULT_DETAIL, ATTR_FAULT_ID, ATTR_FAULT_KIND, ATTR_FAULT_NODES } from './semconv.js';

/** `drover.fault.*` attributes of `fault`. */
export function getFaultAttributes(fault: FaultRecord): Attributes {
  return {
    [ATTR_FAULT_ID]: fault.id,
    [ATTR_FAULT_KIND]: fault.kind,
    [ATTR_FAULT_NODES]: [...fault.nodes],
    [ATTR_FAULT_DETAIL]: fault.detail,
    [ATTR_FAULT_BY]: fault.by,
  };
}
