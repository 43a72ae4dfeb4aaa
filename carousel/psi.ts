// Program-specific information so that analyzers and muxes see a program: a PAT naming one
// program and a PMT listing the carousel PID as stream_type 0x0B (13818-6 type B, DSM-CC
// sections) with DVB's data_broadcast_id_descriptor 0x0006 (data carousel). Encode only.

import { crc32mpeg2 } from './crc32.ts';

export const PID_PAT = 0x0000;
export const PID_NULL = 0x1fff;
export const STREAM_TYPE_DSMCC_B = 0x0b;
const DATA_CAROUSEL_BROADCAST_ID = 0x0006;

function psiSection(tableId: number, tide: number, body: Uint8Array): Uint8Array {
  const total = 8 + body.length + 4;
  const s = new Uint8Array(total);
  const len = total - 3;
  s[0] = tableId;
  s[1] = 0xb0 | (len >>> 8); // syntax 1, '0', reserved 11
  s[2] = len & 0xff;
  s[3] = tide >>> 8;
  s[4] = tide & 0xff;
  s[5] = 0xc1; // reserved 11, version 0, current_next 1
  s[6] = 0;
  s[7] = 0;
  s.set(body, 8);
  const crc = crc32mpeg2(s, 0, total - 4);
  s.set([crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff], total - 4);
  return s;
}

export function encodePat(transportStreamId: number, programNumber: number, pmtPid: number): Uint8Array {
  return psiSection(0x00, transportStreamId, Uint8Array.of(programNumber >>> 8, programNumber & 0xff, 0xe0 | (pmtPid >>> 8), pmtPid & 0xff));
}

export function encodePmt(programNumber: number, carouselPid: number, componentTag: number): Uint8Array {
  const info = [
    ...[0x52, 1, componentTag & 0xff], // stream_identifier_descriptor
    ...[0x66, 2, DATA_CAROUSEL_BROADCAST_ID >>> 8, DATA_CAROUSEL_BROADCAST_ID & 0xff], // data_broadcast_id_descriptor
  ];
  const es = [STREAM_TYPE_DSMCC_B, 0xe0 | (carouselPid >>> 8), carouselPid & 0xff, 0xf0, info.length, ...info];
  // PCR_PID 0x1FFF: this program carries no clock (13818-1 2.4.4.9 allows it for private data).
  return psiSection(0x02, programNumber, Uint8Array.of(0xe0 | 0x1f, 0xff, 0xf0, 0x00, ...es));
}
