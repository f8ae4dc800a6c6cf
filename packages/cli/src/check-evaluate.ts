/** `cmq check`'s verdict lives in @cmq/actions (the console shows the same one). */
export {
  type CheckInput,
  type CheckResult,
  type NagiosCode,
  NAGIOS_WORDS,
  NagiosState,
  consumersOf,
  evaluate,
  statusLine,
} from '@cmq/actions';
