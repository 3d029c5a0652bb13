/* tinyml-kit's instruction-mix and cycle plugin for QEMU 7.2 (TCG plugin API version 1).
 *
 * Licensing: QEMU is GPL-2.0-or-later and loads this file's shared object into its own process, so the compiled
 * plugin is a derivative of QEMU and is distributed under GPL-2.0-or-later, whatever the rest of tinyml-kit uses.
 * The declarations below are copied by hand from QEMU's include/qemu/qemu-plugin.h (API version 1), because no
 * Debian package installs that header; only the functions this plugin calls are declared.
 *
 * What it counts: every executed Thumb/Thumb-2 instruction, decoded from its bytes at translation time into a
 * class (ALU, multiply, DSP/SIMD, divide, load/store single, load/store multiple with the registers moved,
 * branches taken and not taken, FPU/MVE, other), and every data access by region (flash/code, SRAM, the rest),
 * with the regions passed as arguments from tinyml_kit.core.cores. Class counters are per-instruction inline adds
 * (no call per instruction); data accesses and conditional branches take a callback. At exit it writes JSON.
 *
 * Cycles: QEMU counts instructions, not cycles, so the plugin estimates them from a timing table it is given
 * (tinyml_kit.core.timing, all in quarter cycles): a cost per class, per register of a load/store multiple, the
 * pipeline refill of a taken branch, a cost change when one class follows another in the same block (the
 * Cortex-M4's pipelined loads, the M7's dual issue, the M55's overlapping Helium beats), and wait states for data
 * read from flash past a direct-mapped model of the board's flash data cache. Everything static is summed at
 * translation into one inline add per instruction; taken conditional branches and flash misses are added at run
 * time. The Python side recomputes the same sum from the counts (tests compare the two).
 *
 * Arguments: out=PATH (required), flash=ORIGIN:LENGTH, ram=ORIGIN:LENGTH (hex or decimal), mark=ADDRESS: each
 * data access to ADDRESS records the instructions, cycles, flash misses and flash data reads so far, so a window the firmware measures itself
 * (e.g. between two reads of SysTick's current value) can be measured by the plugin too; and the timing: cost=Q:Q:..
 * (one per class), reg=Q, refill=Q, pair=FIRST:THEN:DELTA:CHAINS (class indices, repeatable), flash_ws=Q, dline=BYTES,
 * dlines=N (0: no data cache, every flash read waits).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
typedef uint64_t qemu_plugin_id_t;
typedef uint32_t qemu_plugin_meminfo_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t; /* only passed through */
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr,
                                          void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op, void *ptr,
                                                uint64_t imm);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_mem_cb_t cb,
                                      enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw, void *userdata);
bool qemu_plugin_mem_is_store(qemu_plugin_meminfo_t info);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

/* The classes, in the order the JSON lists them. */
enum insn_class {
  C_ALU, C_MUL, C_DSP, C_DIV, C_LOAD, C_STORE, C_LOAD_MULTIPLE, C_STORE_MULTIPLE, C_BRANCH, C_BRANCH_COND, C_FPU,
  C_MVE_LOAD_STORE, C_MVE_COMPUTE, C_LOOP_END, C_OTHER, N_CLASSES
};
static const char *const CLASS_NAMES[N_CLASSES] = {
    "alu", "mul", "dsp", "div", "load", "store", "load_multiple", "store_multiple", "branch", "branch_cond", "fpu",
    "mve_load_store", "mve_compute", "loop_end", "other"};

static uint64_t counts[N_CLASSES];
static uint64_t regs_loaded, regs_stored;       /* registers moved by LDM/POP/LDRD and STM/PUSH/STRD */
static uint64_t cond_not_taken;                  /* conditional branches that fell through */
static uint64_t pc_loads;                        /* loads that write PC (returns, jump tables): pipeline refills */
enum region { R_FLASH, R_RAM, R_OTHER, N_REGIONS };
static const char *const REGION_NAMES[N_REGIONS] = {"flash", "ram", "other"};
static uint64_t mem_loads[N_REGIONS], mem_stores[N_REGIONS];
static uint64_t flash_lo, flash_hi, ram_lo, ram_hi; /* [lo, hi) */
static char *out_path;
static uint64_t mark_addr = UINT64_MAX;
struct mark { uint64_t instructions, quarters, misses, flash_loads; };
static struct mark *marks;                       /* grown as needed */
static size_t n_marks, max_marks;
static uint64_t pending_fallthrough;             /* set by a conditional branch, read at the next block */

/* The timing, in quarter cycles. */
static uint64_t cost[N_CLASSES], per_reg, refill, flash_ws;
static uint64_t static_quarters, dynamic_quarters;
#define MAX_RULES 256
struct rule { int first, then; int64_t delta; bool chains; };
static struct rule rules[MAX_RULES];
static uint64_t rule_hits[MAX_RULES];
static int n_rules;
static uint64_t dline = 16, dlines, flash_misses;
static bool flash_model;                         /* any of flash_ws, dline, dlines given */
static uint64_t *dtags;                          /* direct-mapped flash data cache: line + 1, 0 = empty */

struct decoded {
  enum insn_class cls;
  unsigned regs; /* registers in a load/store multiple */
  bool to_pc;    /* a load that writes PC: POP {..., pc}, LDM with PC, LDR pc */
};

static unsigned popcount16(unsigned v) { return (unsigned)__builtin_popcount(v & 0xFFFFu); }

/* 16-bit Thumb (ARMv7-M ARM A5.2). */
static struct decoded decode16(unsigned hw) {
  struct decoded d = {C_ALU, 0, false};
  if ((hw >> 10) == 0x10) { /* data processing: MUL is op 1101 */
    d.cls = ((hw >> 6) & 0xF) == 0xD ? C_MUL : C_ALU;
  } else if ((hw >> 10) == 0x11) { /* special data, BX/BLX; a write to PC is a branch */
    unsigned op = (hw >> 8) & 3, rd = ((hw >> 4) & 8) | (hw & 7);
    d.cls = (op == 3 || (op != 1 && rd == 15)) ? C_BRANCH : C_ALU;
  } else if ((hw >> 11) == 0x09) { /* LDR literal */
    d.cls = C_LOAD;
  } else if ((hw >> 12) == 0x5) { /* register offset: STR, STRH, STRB store; the rest load */
    d.cls = ((hw >> 9) & 7) < 3 ? C_STORE : C_LOAD;
  } else if ((hw >> 13) == 0x3 || (hw >> 12) == 0x8 || (hw >> 12) == 0x9) { /* immediate and SP-relative */
    d.cls = (hw & 0x0800) ? C_LOAD : C_STORE;
  } else if ((hw >> 12) == 0xB) { /* miscellaneous */
    if ((hw & 0xF500) == 0xB100) {
      d.cls = C_BRANCH_COND; /* CBZ, CBNZ */
    } else if ((hw & 0xFE00) == 0xB400) {
      d.cls = C_STORE_MULTIPLE, d.regs = popcount16(hw & 0x1FF); /* PUSH, with LR */
    } else if ((hw & 0xFE00) == 0xBC00) {
      d.cls = C_LOAD_MULTIPLE, d.regs = popcount16(hw & 0x1FF), d.to_pc = (hw & 0x100) != 0; /* POP, PC */
    } else if ((hw & 0xFF00) == 0xBE00 || (hw & 0xFF00) == 0xBF00 || (hw & 0xFFE8) == 0xB660) {
      d.cls = C_OTHER; /* BKPT, IT and hints, CPS */
    }
  } else if ((hw >> 12) == 0xC) {
    d.cls = (hw & 0x0800) ? C_LOAD_MULTIPLE : C_STORE_MULTIPLE, d.regs = popcount16(hw & 0xFF);
  } else if ((hw >> 12) == 0xD) {
    unsigned cond = (hw >> 8) & 0xF;
    d.cls = cond >= 0xE ? C_OTHER : C_BRANCH_COND; /* UDF, SVC; else B<cc> */
  } else if ((hw >> 11) == 0x1C) {
    d.cls = C_BRANCH;
  }
  return d;
}

/* Data processing (register) space, 0xFA..: extends, parallel add/sub, saturating and misc ops. */
static enum insn_class decode_dp_register(unsigned hw1, unsigned hw2) {
  if ((hw2 & 0xF000) != 0xF000) return C_OTHER;
  unsigned op1 = (hw1 >> 4) & 0xF;
  if (op1 < 8) {
    if ((hw2 & 0x80) == 0) return C_ALU;             /* shift by register */
    return (op1 == 2 || op1 == 3) ? C_DSP : C_ALU;   /* SXT(A)B16, UXT(A)B16; other extends */
  }
  if ((hw2 & 0xC0) == 0x80 && (op1 == 9 || op1 == 0xB)) return C_ALU; /* REV*, RBIT, CLZ */
  return C_DSP;                                                       /* SIMD add/sub, QADD, SEL */
}

/* Multiply (0xFB0-0xFB7) and long multiply / divide (0xFB8-0xFBF). */
static enum insn_class decode_multiply(unsigned hw1, unsigned hw2) {
  unsigned op1 = (hw1 >> 4) & 7, op2 = (hw2 >> 4) & 0xF;
  if ((hw1 & 0x0080) == 0) return op1 == 0 ? C_MUL : C_DSP; /* MUL/MLA/MLS; SMLAxy, SMLAD, SMMLA, USADA8 */
  if (op1 == 1 || op1 == 3) return C_DIV;                    /* SDIV, UDIV */
  if (op1 == 0 || op1 == 2 || op1 == 6 || (op1 == 4 && op2 == 0)) return C_MUL; /* (S|U)MULL, (S|U)MLAL, UMAAL */
  return C_DSP; /* SMLALxy, SMLALD, SMLSLD */
}

/* 32-bit Thumb-2 (ARMv7-M ARM A5.3). */
static struct decoded decode32(unsigned hw1, unsigned hw2) {
  struct decoded d = {C_ALU, 0, false};
  unsigned op1 = (hw1 >> 11) & 3;
  if ((hw1 & 0xEC00) == 0xEC00) {
    /* Coprocessor space: coprocessors 10 and 11 are the FPU; Helium (MVE) takes 14 and 15 and the space that
     * Advanced SIMD has on A-profile (0xEF.., 0xFF..). Its loads and stores are the 0xEC/0xED (0xFC/0xFD) rows. */
    unsigned coprocessor = (hw2 >> 8) & 0xF;
    bool mve = (hw1 & 0xEF00) == 0xEF00 || coprocessor == 0xE || coprocessor == 0xF;
    d.cls = !mve ? C_FPU : (hw1 & 0x0E00) == 0x0C00 ? C_MVE_LOAD_STORE : C_MVE_COMPUTE;
  } else if (op1 == 2 && (hw2 & 0xD000) == 0xC000) {
    /* Armv8.1-M low-overhead loops (BLX's unused encoding on M-profile): LE/LETP end a loop; DLS, WLS, VCTP set up */
    d.cls = (hw1 & 0xFFCF) == 0xF00F ? C_LOOP_END : C_ALU;
  } else if (op1 == 1 && (hw1 & 0x0600) == 0 && (hw1 & 0x0040) == 0) {
    unsigned n = popcount16(hw2);
    d.cls = (hw1 & 0x10) ? C_LOAD_MULTIPLE : C_STORE_MULTIPLE, d.regs = n; /* LDM, STM */
    d.to_pc = (hw1 & 0x10) && (hw2 & 0x8000);
  } else if (op1 == 1 && (hw1 & 0x0600) == 0) { /* dual, exclusive, table branch */
    if ((hw1 & 0xFFF0) == 0xE8D0 && (hw2 & 0xFFE0) == 0xF000) {
      d.cls = C_BRANCH; /* TBB, TBH */
    } else if ((hw1 & 0xFFE0) == 0xE840 || ((hw1 & 0xFFE0) == 0xE8C0 && (hw2 & 0xC0) == 0x40)) {
      d.cls = (hw1 & 0x10) ? C_LOAD : C_STORE; /* LDREX*, STREX* */
    } else {
      d.cls = (hw1 & 0x10) ? C_LOAD_MULTIPLE : C_STORE_MULTIPLE, d.regs = 2; /* LDRD, STRD */
    }
  } else if ((hw1 & 0xFFF0) == 0xEAC0) {
    d.cls = C_DSP; /* PKHBT, PKHTB */
  } else if (op1 == 2 && (hw2 & 0x8000)) { /* branches and miscellaneous control */
    if ((hw2 & 0x5000) == 0) {
      d.cls = ((hw1 >> 7) & 7) == 7 ? C_OTHER : C_BRANCH_COND; /* MSR/MRS/hints/barriers; B<cc>.W */
    } else {
      d.cls = C_BRANCH; /* B.W, BL, BLX */
    }
  } else if (op1 == 3) {
    if ((hw1 & 0xFE00) == 0xF800) {
      d.cls = (hw1 & 0x10) ? C_LOAD : C_STORE; /* single data item (PLD counts as a load) */
      d.to_pc = (hw1 & 0x70) == 0x50 && (hw2 >> 12) == 15; /* LDR (word) pc */
    } else if ((hw1 & 0xFF00) == 0xFA00) {
      d.cls = decode_dp_register(hw1, hw2);
    } else if ((hw1 & 0xFF00) == 0xFB00) {
      d.cls = decode_multiply(hw1, hw2);
    }
  }
  return d;
}

static enum region region_of(uint64_t addr) {
  if (addr >= flash_lo && addr < flash_hi) return R_FLASH;
  if (addr >= ram_lo && addr < ram_hi) return R_RAM;
  return R_OTHER;
}

static uint64_t executed(void) {
  uint64_t total = 0;
  for (int c = 0; c < N_CLASSES; c++) total += counts[c];
  return total;
}

static uint64_t quarters(void) { return static_quarters + dynamic_quarters; }

static void add_mark(void) {
  if (n_marks == max_marks) {
    size_t grown = max_marks ? 2 * max_marks : 4096;
    struct mark *more = realloc(marks, grown * sizeof *marks);
    if (more == NULL) return;
    marks = more, max_marks = grown;
  }
  marks[n_marks++] = (struct mark){executed(), quarters(), flash_misses, mem_loads[R_FLASH]};
}

/* A read from flash waits unless the board's flash data cache holds its line. */
static void flash_read(uint64_t vaddr) {
  uint64_t line = vaddr / dline;
  if (dlines != 0) {
    uint64_t *tag = &dtags[line % dlines];
    if (*tag == line + 1) return;
    *tag = line + 1;
  }
  flash_misses++;
  dynamic_quarters += flash_ws;
}

static void on_mem(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata) {
  (void)vcpu, (void)udata;
  if (vaddr == mark_addr) add_mark();
  enum region r = region_of(vaddr);
  if (qemu_plugin_mem_is_store(info)) {
    mem_stores[r]++;
  } else {
    mem_loads[r]++;
    if (r == R_FLASH && flash_model) flash_read(vaddr);
  }
}

/* A conditional branch records where it would fall through; the next block to run says whether it did. */
static void on_cond_branch(unsigned int vcpu, void *udata) {
  (void)vcpu;
  pending_fallthrough = (uint64_t)(uintptr_t)udata;
}

static void on_block(unsigned int vcpu, void *udata) {
  (void)vcpu;
  if (pending_fallthrough != 0) {
    if (pending_fallthrough == (uint64_t)(uintptr_t)udata) {
      cond_not_taken++;
    } else {
      dynamic_quarters += refill;
    }
  }
  pending_fallthrough = 0;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  (void)id;
  qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS,
                                       (void *)(uintptr_t)qemu_plugin_tb_vaddr(tb));
  unsigned it_left = 0; /* instructions still inside an IT block: a branch there is conditional */
  int previous = -1;     /* the class before this instruction in the block */
  bool paired = false;   /* whether the previous instruction already took a rule that does not chain */
  for (size_t i = 0, n = qemu_plugin_tb_n_insns(tb); i < n; i++) {
    struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
    const uint8_t *bytes = qemu_plugin_insn_data(insn);
    unsigned hw1 = bytes[0] | (unsigned)bytes[1] << 8;
    /* The width comes from the first halfword, not qemu_plugin_insn_size(): QEMU 7.2 reports 4 bytes for a 16-bit
     * instruction in the last halfword before a 1 KB page boundary (it peeks at the next halfword to see whether
     * the instruction crosses the page). */
    size_t size = (hw1 >> 11) >= 0x1D && qemu_plugin_insn_size(insn) >= 4 ? 4 : 2;
    struct decoded d = size == 4 ? decode32(hw1, bytes[2] | (unsigned)bytes[3] << 8) : decode16(hw1);
    if (it_left > 0) {
      it_left--;
      if (d.cls == C_BRANCH) d.cls = C_BRANCH_COND; /* BXNE lr and the like */
    }
    if (size == 2 && (hw1 & 0xFF00) == 0xBF00 && (hw1 & 0xF) != 0) it_left = 4 - (unsigned)__builtin_ctz(hw1 & 0xF);
    if (d.to_pc) qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &pc_loads, 1);
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &counts[d.cls], 1);
    uint64_t q = cost[d.cls] + d.regs * per_reg + ((d.cls == C_BRANCH || d.to_pc) ? refill : 0);
    int hit = -1;
    for (int r = 0; r < n_rules && hit < 0; r++) {
      if (rules[r].first == previous && rules[r].then == (int)d.cls && (rules[r].chains || !paired)) hit = r;
    }
    paired = false;
    if (hit >= 0) {
      q += (uint64_t)rules[hit].delta; /* a saving wraps around: the sum stays exact modulo 2^64 */
      paired = !rules[hit].chains;
      qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &rule_hits[hit], 1);
    }
    if (q != 0) qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &static_quarters, q);
    previous = (int)d.cls;
    if (d.regs != 0) {
      uint64_t *moved = d.cls == C_LOAD_MULTIPLE ? &regs_loaded : &regs_stored;
      qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, moved, d.regs);
    }
    if (d.cls == C_BRANCH_COND) {
      uint64_t fallthrough = qemu_plugin_insn_vaddr(insn) + size;
      qemu_plugin_register_vcpu_insn_exec_cb(insn, on_cond_branch, QEMU_PLUGIN_CB_NO_REGS,
                                             (void *)(uintptr_t)fallthrough);
    }
    qemu_plugin_register_vcpu_mem_cb(insn, on_mem, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW, NULL);
  }
}

static void write_counts(qemu_plugin_id_t id, void *udata) {
  (void)id, (void)udata;
  static bool written;
  if (written || out_path == NULL) return;
  written = true;
  FILE *f = fopen(out_path, "w");
  if (f == NULL) return;
  uint64_t total = executed();
  fprintf(f, "{\"classes\": {");
  for (int c = 0; c < N_CLASSES; c++) fprintf(f, "%s\"%s\": %" PRIu64, c ? ", " : "", CLASS_NAMES[c], counts[c]);
  fprintf(f, "},\n \"instructions\": %" PRIu64 ", \"regs_loaded\": %" PRIu64 ", \"regs_stored\": %" PRIu64
             ", \"branch_cond_not_taken\": %" PRIu64 ", \"pc_loads\": %" PRIu64 ",\n \"loads\": {",
          total, regs_loaded, regs_stored, cond_not_taken, pc_loads);
  for (int r = 0; r < N_REGIONS; r++) fprintf(f, "%s\"%s\": %" PRIu64, r ? ", " : "", REGION_NAMES[r], mem_loads[r]);
  fprintf(f, "}, \"stores\": {");
  for (int r = 0; r < N_REGIONS; r++) fprintf(f, "%s\"%s\": %" PRIu64, r ? ", " : "", REGION_NAMES[r], mem_stores[r]);
  fprintf(f, "},\n \"quarter_cycles\": %" PRIu64 ", \"flash_misses\": %" PRIu64 ", \"rule_hits\": [",
          quarters(), flash_misses);
  for (int r = 0; r < n_rules; r++) fprintf(f, "%s%" PRIu64, r ? ", " : "", rule_hits[r]);
  fprintf(f, "],\n \"marks\": [");
  for (size_t m = 0; m < n_marks; m++) {
    fprintf(f, "%s[%" PRIu64 ", %" PRIu64 ", %" PRIu64 ", %" PRIu64 "]", m ? ", " : "", marks[m].instructions,
            marks[m].quarters, marks[m].misses, marks[m].flash_loads);
  }
  fprintf(f, "]}\n");
  fclose(f);
}

static void write_counts_at_exit(void) { write_counts(0, NULL); }

static bool parse_u64(const char *value, uint64_t *out) {
  char *end;
  *out = strtoull(value, &end, 0);
  return end != value && *end == '\0';
}

static bool parse_range(const char *value, uint64_t *lo, uint64_t *hi) {
  char *end;
  uint64_t origin = strtoull(value, &end, 0);
  if (*end != ':') return false;
  uint64_t length = strtoull(end + 1, &end, 0);
  if (*end != '\0') return false;
  *lo = origin, *hi = origin + length;
  return true;
}

/* cost=Q:Q:...: one cost per class, in CLASS_NAMES' order. */
static bool parse_costs(const char *value) {
  const char *p = value;
  for (int c = 0; c < N_CLASSES; c++) {
    char *end;
    cost[c] = strtoull(p, &end, 0);
    if (end == p || *end != (c == N_CLASSES - 1 ? '\0' : ':')) return false;
    p = end + 1;
  }
  return true;
}

/* pair=FIRST:THEN:DELTA:CHAINS, classes by index. */
static bool parse_rule(const char *value) {
  struct rule r;
  int chains, used = 0;
  if (n_rules == MAX_RULES) return false;
  if (sscanf(value, "%d:%d:%" SCNd64 ":%d%n", &r.first, &r.then, &r.delta, &chains, &used) != 4) return false;
  if (value[used] != '\0' || r.first < 0 || r.first >= N_CLASSES || r.then < 0 || r.then >= N_CLASSES) return false;
  r.chains = chains != 0;
  rules[n_rules++] = r;
  return true;
}

static bool parse_argument(const char *arg) {
  const char *eq = strchr(arg, '=');
  if (eq == NULL) return false;
  size_t n = (size_t)(eq - arg);
  const char *value = eq + 1;
#define IS(name) (n == sizeof(name) - 1 && strncmp(arg, name, n) == 0)
  if (IS("out")) {
    out_path = malloc(strlen(value) + 1); /* argv lives only as long as the install call */
    if (out_path != NULL) strcpy(out_path, value);
    return out_path != NULL;
  }
  if (IS("flash")) return parse_range(value, &flash_lo, &flash_hi);
  if (IS("ram")) return parse_range(value, &ram_lo, &ram_hi);
  if (IS("mark")) return parse_u64(value, &mark_addr);
  if (IS("cost")) return parse_costs(value);
  if (IS("reg")) return parse_u64(value, &per_reg);
  if (IS("refill")) return parse_u64(value, &refill);
  if (IS("pair")) return parse_rule(value);
  if (IS("flash_ws")) return flash_model = true, parse_u64(value, &flash_ws);
  if (IS("dline")) return flash_model = true, parse_u64(value, &dline) && dline != 0;
  if (IS("dlines")) return flash_model = true, parse_u64(value, &dlines);
#undef IS
  return false;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
  (void)info;
  for (int i = 0; i < argc; i++) {
    if (!parse_argument(argv[i])) {
      fprintf(stderr, "insn_mix: bad argument '%s' (out=PATH, flash=ORIGIN:LENGTH, ram=ORIGIN:LENGTH, mark=ADDRESS, "
                      "cost=Q:..., reg=Q, refill=Q, pair=FIRST:THEN:DELTA:CHAINS, flash_ws=Q, dline=BYTES, dlines=N)\n",
              argv[i]);
      return -1;
    }
  }
  if (dlines != 0) {
    dtags = calloc(dlines, sizeof *dtags);
    if (dtags == NULL) return -1;
  }
  if (out_path == NULL) {
    fprintf(stderr, "insn_mix: out=PATH is required\n");
    return -1;
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
  qemu_plugin_register_atexit_cb(id, write_counts, NULL);
  /* Semihosting's SYS_EXIT ends QEMU with exit(); QEMU 7.2 runs the callback above then (checked), and the C
   * library's atexit is a second route for an exit path that skips it (the counts are written once). */
  atexit(write_counts_at_exit);
  return 0;
}
