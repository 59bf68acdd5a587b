/*
 * sevtui-exits: what one VM exit costs, timed from inside the guest.
 *
 * Each operation runs in batches of ITERATIONS; the TSC (rdtscp) times every batch and
 * the median batch gives cycles per operation, the 10th and 90th percentiles its
 * spread. The TSC frequency, measured against CLOCK_MONOTONIC, turns cycles into ns.
 *
 *   syscall    getppid(2): a user-kernel round trip, no exit (the in-guest baseline)
 *   cpuid      CPUID leaf 0: an exit on every platform (a #VC on SEV-ES/SNP)
 *   port write OUT to port 0x80 after ioperm(2) (root): an I/O exit
 *   mmio read  a 32-bit read of a PCI memory BAR through sysfs (root, --mmio): an MMIO exit
 *   msr read   pread of /dev/cpu/0/msr, MSR 0x1b (APIC base), when the msr driver is there
 *
 * Output, one line per measured operation:
 *   sevtui-exits: tsc_mhz=2994.3
 *   sevtui-exits: op=cpuid cycles=1234.5 ns=412.3 p10=1200.1 p90=1300.2 n=64
 *   sevtui-exits: op=mmio read skipped=why
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BATCHES 64
#define ITERATIONS 200

static double tsc_mhz;

static inline uint64_t tsc(void) {
    uint32_t lo, hi, aux;
    __asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
    return ((uint64_t)hi << 32) | lo;
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void measure_tsc(void) {
    double start = now_ns();
    uint64_t begin = tsc();
    while (now_ns() - start < 100e6) {
    }
    uint64_t end = tsc();
    tsc_mhz = (double)(end - begin) / ((now_ns() - start) / 1e3);
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef void (*op_fn)(void *);

static void report(const char *name, op_fn op, void *arg) {
    double per_op[BATCHES];
    op(arg); /* warm the path once */
    for (int b = 0; b < BATCHES; b++) {
        uint64_t begin = tsc();
        for (int i = 0; i < ITERATIONS; i++)
            op(arg);
        per_op[b] = (double)(tsc() - begin) / ITERATIONS;
    }
    qsort(per_op, BATCHES, sizeof per_op[0], by_value);
    double median = per_op[BATCHES / 2];
    printf("sevtui-exits: op=%s cycles=%.1f ns=%.1f p10=%.1f p90=%.1f n=%d\n", name, median,
           median * 1e3 / tsc_mhz, per_op[BATCHES / 10], per_op[BATCHES * 9 / 10], BATCHES);
}

static void skipped(const char *name, const char *why) {
    printf("sevtui-exits: op=%s skipped=%s\n", name, why);
}

static void do_syscall(void *arg) { (void)arg; syscall(SYS_getppid); }

static void do_cpuid(void *arg) {
    (void)arg;
    uint32_t a = 0, b, c = 0, d;
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
}

static void do_port(void *arg) { (void)arg; outb(0, 0x80); }

static void do_mmio(void *arg) { (void)*(volatile uint32_t *)arg; }

static void do_msr(void *arg) {
    uint64_t value;
    if (pread(*(int *)arg, &value, sizeof value, 0x1b) != sizeof value)
        value = 0;
}

/* The first PCI memory BAR sysfs lets us map (a 4 KiB page of it), or NULL. */
static volatile uint32_t *pci_bar(char *why, size_t size) {
    DIR *dir = opendir("/sys/bus/pci/devices");
    if (!dir) {
        snprintf(why, size, "no /sys/bus/pci/devices");
        return NULL;
    }
    struct dirent *entry;
    snprintf(why, size, "no PCI memory BAR could be mapped");
    while ((entry = readdir(dir))) {
        for (int bar = 0; bar < 6 && entry->d_name[0] != '.'; bar++) {
            char path[512];
            snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/resource%d", entry->d_name, bar);
            int fd = open(path, O_RDONLY);
            if (fd < 0)
                continue;
            void *map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
            close(fd);
            if (map != MAP_FAILED) {
                closedir(dir);
                return map;
            }
        }
    }
    closedir(dir);
    return NULL;
}

int main(int argc, char **argv) {
    int mmio = argc > 1 && strcmp(argv[1], "--mmio") == 0;
    char why[128];
    measure_tsc();
    printf("sevtui-exits: tsc_mhz=%.1f\n", tsc_mhz);
    report("syscall", do_syscall, NULL);
    report("cpuid", do_cpuid, NULL);
    if (ioperm(0x80, 1, 1) == 0)
        report("port write", do_port, NULL);
    else
        skipped("port write", strerror(errno));
    volatile uint32_t *bar = mmio ? pci_bar(why, sizeof why) : NULL;
    if (bar)
        report("mmio read", do_mmio, (void *)bar);
    else
        skipped("mmio read", mmio ? why : "not asked (--mmio)");
    int msr = open("/dev/cpu/0/msr", O_RDONLY);
    if (msr >= 0)
        report("msr read", do_msr, &msr);
    else
        skipped("msr read", "no /dev/cpu/0/msr (the msr driver)");
    return 0;
}
